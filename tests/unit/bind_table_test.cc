// BindTable (supervisor/bind_table.h) on real loopback sockets: a large
// table bound on several threads gives the same list as on one (every
// socket at its place in the table, bound to its address, listening), and
// the same error: the first failure in the table's order, a unix socket's
// included (those are bound on the calling thread), with every fresh
// socket closed again.
#include "supervisor/bind_table.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace hinetd::supervisor {
namespace {

using base::UniqueFd;

constexpr int kTcpServices = 150;
constexpr int kUdpServices = 50;
constexpr int kThreads = 4;

// An address of 127/8 of this process's own, and a first port from which
// kTcpServices + kUdpServices ports are free on it for both transports
// (below the ephemeral range, where the other tests' ports come from).
struct Range {
  in_addr ip{};
  uint16_t first = 0;
};

bool AllFree(in_addr ip, uint16_t first, int count) {
  for (int i = 0; i < count; ++i) {
    for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
      UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
      net::Endpoint ep = net::Endpoint::Inet4(ip, static_cast<uint16_t>(first + i));
      if (!fd || bind(fd.get(), ep.sa(), ep.len) != 0) return false;
    }
  }
  return true;
}

Range FreeRange() {
  Range r;
  unsigned pid = static_cast<unsigned>(getpid());
  r.ip.s_addr = htonl((127u << 24) | ((pid % 200 + 20) << 16) | ((pid / 200 % 250) << 8) | 1);
  for (int attempt = 0; attempt < 10; ++attempt) {
    r.first = static_cast<uint16_t>(21000 + ((pid + attempt * 7) % 20) * 500);
    if (AllFree(r.ip, r.first, kTcpServices + kUdpServices)) return r;
  }
  r.first = 0;
  return r;
}

config::Service Service(const std::string& name, net::Transport transport, net::Endpoint ep) {
  config::Service s;
  s.name = name;
  s.transport = transport;
  config::ListenAddr addr;
  addr.text = net::ToString(ep);
  addr.endpoints = {ep};
  s.listen = {addr};
  return s;
}

// kTcpServices TCP services, then kUdpServices UDP ones, each on a port of
// its own: "t0".., "u0"...
config::Config Table(const Range& r) {
  config::Config c;
  c.daemon.uid = static_cast<uid_t>(-1);  // UDP sockets: this process's own
  for (int i = 0; i < kTcpServices; ++i) {
    c.services.push_back(Service("t" + std::to_string(i), net::Transport::kTcp,
                                 net::Endpoint::Inet4(r.ip, static_cast<uint16_t>(r.first + i))));
  }
  for (int i = 0; i < kUdpServices; ++i) {
    uint16_t port = static_cast<uint16_t>(r.first + kTcpServices + i);
    c.services.push_back(
        Service("u" + std::to_string(i), net::Transport::kUdp, net::Endpoint::Inet4(r.ip, port)));
  }
  return c;
}

int SocketOption(int fd, int option) {
  int value = -1;
  socklen_t len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, option, &value, &len) != 0) return -1;
  return value;
}

net::Endpoint BoundTo(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

TEST(BindTable, ALargeTableOnSeveralThreadsIsBoundInTheTablesOrder) {
  Range r = FreeRange();
  if (r.first == 0) GTEST_SKIP() << "no range of 200 free ports found on a 127/8 address";
  static_assert(kTcpServices + kUdpServices >= kParallelBindMinimum);
  config::Config table = Table(r);
  base::Logger log;
  auto sockets = BindTable(table, {}, {}, 16, log, kThreads);
  ASSERT_TRUE(sockets.ok()) << sockets.error().ToString();
  ASSERT_EQ(sockets->size(), table.services.size());
  for (size_t i = 0; i < table.services.size(); ++i) {
    const config::Service& svc = table.services[i];
    const ListenSocket& s = *(*sockets)[i];
    SCOPED_TRACE(svc.name);
    ASSERT_TRUE(s.fd);
    EXPECT_EQ(s.transport, svc.transport);
    EXPECT_EQ(s.ep, svc.listen[0].endpoints[0]);
    EXPECT_EQ(BoundTo(s.fd.get()), svc.listen[0].endpoints[0]);
    bool tcp = svc.transport == net::Transport::kTcp;
    EXPECT_EQ(SocketOption(s.fd.get(), SO_TYPE), tcp ? SOCK_STREAM : SOCK_DGRAM);
    EXPECT_EQ(SocketOption(s.fd.get(), SO_ACCEPTCONN), tcp ? 1 : 0);
  }
}

TEST(BindTable, TheFirstFailureInTheTablesOrderIsTheErrorWhicheverThreadMetIt) {
  Range r = FreeRange();
  if (r.first == 0) GTEST_SKIP() << "no range of 200 free ports found on a 127/8 address";
  config::Config table = Table(r);
  // Service t120's address taken by another socket, then also u10's (on
  // another port, so another thread) and a unix service placed before both
  // whose directory does not exist: each time, the earliest one is the error.
  const int taken_tcp = 120, taken_udp = 10;
  UniqueFd tcp_holder(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const net::Endpoint& tcp_ep = table.services[taken_tcp].listen[0].endpoints[0];
  ASSERT_EQ(bind(tcp_holder.get(), tcp_ep.sa(), tcp_ep.len), 0) << strerror(errno);
  ASSERT_EQ(listen(tcp_holder.get(), 1), 0);
  base::Logger log;
  auto expect_error_names = [&](const std::string& name) {
    for (int round = 0; round < 5; ++round) {
      auto sockets = BindTable(table, {}, {}, 16, log, kThreads);
      ASSERT_FALSE(sockets.ok());
      EXPECT_NE(sockets.error().message().find("service \"" + name + "\": "), std::string::npos)
          << sockets.error().message();
      // Nothing of the failed table stays bound: every other address is
      // free again (the list closed its fresh sockets).
      EXPECT_TRUE(AllFree(r.ip, r.first, taken_tcp));
    }
  };
  expect_error_names("t120");

  UniqueFd udp_holder(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const net::Endpoint& udp_ep = table.services[kTcpServices + taken_udp].listen[0].endpoints[0];
  ASSERT_EQ(bind(udp_holder.get(), udp_ep.sa(), udp_ep.len), 0) << strerror(errno);
  // u10 comes after t120 in the table: t120 is still the error.
  expect_error_names("t120");
  // Moved before it, u10 is.
  std::swap(table.services[5], table.services[kTcpServices + taken_udp]);
  expect_error_names("u10");

  config::Service unix_service = Service(
      "x0", net::Transport::kTcp,
      net::Endpoint::Unix("/nonexistent-hinetd-test-" + std::to_string(getpid()) + "/sock"));
  table.services.insert(table.services.begin() + 2, unix_service);
  expect_error_names("x0");
}

TEST(BindTable, OneThreadOrAFewSocketsBindOnTheCallingThreadWithTheSameResult) {
  Range r = FreeRange();
  if (r.first == 0) GTEST_SKIP() << "no range of 200 free ports found on a 127/8 address";
  config::Config table = Table(r);
  base::Logger log;
  for (int threads : {1, kThreads}) {
    SCOPED_TRACE(threads);
    table.services.resize(kParallelBindMinimum - 1);
    auto small = BindTable(table, {}, {}, 16, log, threads);
    ASSERT_TRUE(small.ok()) << small.error().ToString();
    ASSERT_EQ(small->size(), table.services.size());
    for (size_t i = 0; i < table.services.size(); ++i) {
      EXPECT_EQ(BoundTo((*small)[i]->fd.get()), table.services[i].listen[0].endpoints[0]);
    }
  }
}

}  // namespace
}  // namespace hinetd::supervisor
