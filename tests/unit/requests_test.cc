// The monitor's request checks (supervisor/requests.h), fed a table and
// real loopback sockets, no daemon: each fixture is one way a request can
// be wrong (or right), and the test asserts the verdict the monitor would
// act on, and that nothing it was given has changed.
#include "supervisor/requests.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "base/unique_fd.h"
#include "net/acl.h"

namespace hinetd::supervisor {
namespace {

using base::UniqueFd;
using Kind = Verdict::Kind;

net::Endpoint LocalOf(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len), 0);
  return net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

net::Endpoint Loopback(uint16_t port) {
  in_addr a{};
  inet_pton(AF_INET, "127.0.0.1", &a);
  return net::Endpoint::Inet4(a, port);
}

// A socket of `type` bound to 127.0.0.1:`port` (0: any), SO_REUSEPORT so
// that a fresh datagram socket can share the address, as a handover's does.
UniqueFd Bound(int type, uint16_t port = 0) {
  UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(fd);
  int one = 1;
  EXPECT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
  net::Endpoint ep = Loopback(port);
  EXPECT_EQ(bind(fd.get(), ep.sa(), ep.len), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(fd.get(), 8), 0);
  }
  return fd;
}

UniqueFd Dup(int fd) { return UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 3)); }

void SendFrom(int from, const net::Endpoint& to) {
  char byte = 'x';
  ASSERT_EQ(sendto(from, &byte, 1, 0, to.sa(), to.len), 1);
}

// Three services and their sockets, as the monitor installs them:
// 0 "echo", tcp, max_instances 2, 127.0.0.2 denied;
// 1 "tftp", udp wait; 2 "dns", udp nowait.
struct Table {
  Table() {
    config.daemon.max_children = 8;
    config.services.resize(3);
    auto& echo = config.services[0];
    echo.name = "echo";
    echo.max_instances = 2;
    auto denied = net::ParseCidr("127.0.0.2");
    EXPECT_TRUE(denied.ok());
    echo.acl = net::AccessList(std::nullopt, {*denied});
    auto& tftp = config.services[1];
    tftp.name = "tftp";
    tftp.transport = net::Transport::kUdp;
    tftp.wait = true;
    auto& dns = config.services[2];
    dns.name = "dns";
    dns.transport = net::Transport::kUdp;
    Add(0, Bound(SOCK_STREAM), net::Transport::kTcp);
    Add(1, Bound(SOCK_DGRAM), net::Transport::kUdp);
    Add(2, Bound(SOCK_DGRAM), net::Transport::kUdp);
  }

  void Add(size_t service, UniqueFd fd, net::Transport transport) {
    auto s = std::make_shared<ListenSocket>();
    s->ep = LocalOf(fd.get());
    s->transport = transport;
    s->fd = std::move(fd);
    s->service = service;
    s->wait = config.services[service].wait;
    sockets.push_back(std::move(s));
    by_service = SocketsByService(sockets, config.services.size());
  }

  [[nodiscard]] RequestView View() const {
    return RequestView{
        .generation = generation,
        .memory_short = memory_short,
        .config = config,
        .sockets = sockets,
        .by_service = by_service,
        .reload_sockets = reload_sockets,
        .children = children,
        .running = running,
        .served_ports = served_ports,
        .leftovers = &leftovers,
    };
  }

  [[nodiscard]] RequestRef Ref(uint32_t service) const {
    RequestRef r;
    r.id = 77;
    r.generation = generation;
    r.service = service;
    return r;
  }

  const ListenSocket& socket(size_t i) const { return *sockets[i]; }

  config::Config config;
  SocketList sockets;
  std::vector<SocketList> by_service;  // sockets by service, as Install makes it
  const SocketList* reload_sockets = nullptr;
  Children children;
  std::unordered_map<std::string, int> running;
  PortSet served_ports;
  UdpLeftovers leftovers;
  uint64_t generation = 5;
  bool memory_short = false;
};

// A connection accepted on the echo service's socket, from `client`.
struct Accepted {
  UniqueFd client;
  UniqueFd conn;
};
Accepted Connect(const ListenSocket& listening) {
  Accepted a;
  a.client.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(connect(a.client.get(), listening.ep.sa(), listening.ep.len), 0);
  a.conn.reset(accept4(listening.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  EXPECT_TRUE(a.conn);
  return a;
}

#define EXPECT_VERDICT(v, k, why)        \
  do {                                   \
    Verdict got_ = (v);                  \
    EXPECT_EQ(got_.kind, k);             \
    EXPECT_STREQ(got_.reason, why);      \
  } while (0)

TEST(RequestCheckTest, TableChecksGenerationMemoryAndServiceInThatOrder) {
  Table t;
  EXPECT_VERDICT(CheckTable(t.Ref(0), t.View(), true), Kind::kAdmit, "");
  // Sent before a reload switched tables: refused when it is owed an
  // answer, dropped (a replacement) when not.
  RequestRef stale = t.Ref(0);
  stale.generation = 4;
  EXPECT_VERDICT(CheckTable(stale, t.View(), true), Kind::kRefuse, "stale generation");
  EXPECT_EQ(CheckTable(stale, t.View(), true).outcome, Outcome::kRefused);
  EXPECT_VERDICT(CheckTable(stale, t.View(), false), Kind::kDrop, "");
  // A service index beyond the table only a forger sends.
  EXPECT_VERDICT(CheckTable(t.Ref(3), t.View(), true), Kind::kForged, "no such service");
  // Memory short: an answered request is refused as exhaustion; a
  // replacement must still be taken.
  t.memory_short = true;
  EXPECT_VERDICT(CheckTable(t.Ref(0), t.View(), true), Kind::kRefuseExhausted,
                 "monitor out of memory");
  EXPECT_VERDICT(CheckTable(t.Ref(0), t.View(), false), Kind::kAdmit, "");
  // The generation comes first: a stale request is no sign of exhaustion.
  EXPECT_VERDICT(CheckTable(stale, t.View(), true), Kind::kRefuse, "stale generation");
}

TEST(RequestCheckTest, LimitsRefuseOverMaxInstancesAndMaxChildren) {
  Table t;
  const config::Service& echo = t.config.services[0];
  EXPECT_VERDICT(CheckLimits(t.View(), echo), Kind::kAdmit, "");
  t.running["echo"] = 1;
  EXPECT_VERDICT(CheckLimits(t.View(), echo), Kind::kAdmit, "");
  t.running["echo"] = 2;
  EXPECT_VERDICT(CheckLimits(t.View(), echo), Kind::kRefuse, "over max_instances");
  // Another service's count is not this one's; without max_instances,
  // only max_children bounds it.
  EXPECT_VERDICT(CheckLimits(t.View(), t.config.services[1]), Kind::kAdmit, "");
  for (pid_t pid = 100; pid < 108; ++pid) t.children[pid].service = "dns";
  EXPECT_VERDICT(CheckLimits(t.View(), t.config.services[1]), Kind::kRefuse, "over max_children");
  t.children.erase(100);
  EXPECT_VERDICT(CheckLimits(t.View(), t.config.services[2]), Kind::kAdmit, "");
}

TEST(RequestCheckTest, PeerChecksAllowDenyAndReflection) {
  Table t;
  EXPECT_VERDICT(CheckPeer(t.config.services[0], Loopback(40000), t.served_ports), Kind::kAdmit,
                 "");
  in_addr two{};
  inet_pton(AF_INET, "127.0.0.2", &two);
  EXPECT_VERDICT(CheckPeer(t.config.services[0], net::Endpoint::Inet4(two, 40000), t.served_ports),
                 Kind::kForged, "peer refused by allow/deny");
  // From the echo port: a loop for a udp service, nothing for a tcp one.
  EXPECT_VERDICT(CheckPeer(t.config.services[2], Loopback(7), t.served_ports), Kind::kForged,
                 "peer refused by the reflection rules");
  EXPECT_VERDICT(CheckPeer(t.config.services[0], Loopback(7), t.served_ports), Kind::kAdmit, "");
  // A port this hinetd serves.
  t.served_ports.set(5353);
  EXPECT_VERDICT(CheckPeer(t.config.services[2], Loopback(5353), t.served_ports), Kind::kForged,
                 "peer refused by the reflection rules");
}

TEST(RequestCheckTest, ConnectionAdmittedWithItsPeerAndListeningSocket) {
  Table t;
  Accepted a = Connect(t.socket(0));
  Admission got = CheckConnection(t.Ref(0), a.conn.get(), t.View());
  EXPECT_VERDICT(got.verdict, Kind::kAdmit, "");
  EXPECT_EQ(got.svc, &t.config.services[0]);
  EXPECT_EQ(got.from, t.sockets[0]);
  EXPECT_EQ(got.kind, spawn::Connection::Kind::kTcp);
  EXPECT_FALSE(got.wait);
  EXPECT_TRUE(got.peer == LocalOf(a.client.get()));
  EXPECT_TRUE(got.local == t.socket(0).ep);
}

TEST(RequestCheckTest, ConnectionForgeriesAndRefusals) {
  Table t;
  Accepted a = Connect(t.socket(0));
  // A stream connection said to be for a udp service.
  EXPECT_VERDICT(CheckConnection(t.Ref(2), a.conn.get(), t.View()).verdict, Kind::kForged,
                 "request does not match the service's protocol");
  // A datagram socket as a connection.
  UniqueFd udp = Dup(t.socket(2).fd.get());
  EXPECT_VERDICT(CheckConnection(t.Ref(0), udp.get(), t.View()).verdict, Kind::kForged,
                 "descriptor is not the right kind of socket");
  // The listening socket itself.
  UniqueFd listening = Dup(t.socket(0).fd.get());
  EXPECT_VERDICT(CheckConnection(t.Ref(0), listening.get(), t.View()).verdict, Kind::kForged,
                 "descriptor is not a connection");
  // A connection to some other socket than the service's.
  UniqueFd other = Bound(SOCK_STREAM);
  Accepted elsewhere;
  {
    auto s = std::make_shared<ListenSocket>();
    s->ep = LocalOf(other.get());
    s->fd = std::move(other);
    elsewhere = Connect(*s);
  }
  EXPECT_VERDICT(CheckConnection(t.Ref(0), elsewhere.conn.get(), t.View()).verdict, Kind::kForged,
                 "descriptor does not belong to the service");
  // At max_instances: refused, not forged.
  t.running["echo"] = 2;
  Admission full = CheckConnection(t.Ref(0), a.conn.get(), t.View());
  EXPECT_VERDICT(full.verdict, Kind::kRefuse, "over max_instances");
  EXPECT_EQ(full.verdict.outcome, Outcome::kRefused);
  EXPECT_EQ(full.svc, nullptr);  // nothing to start
  t.running.clear();
  // A peer allow/deny refuses.
  auto lo = net::ParseCidr("127.0.0.0/8");
  ASSERT_TRUE(lo.ok());
  t.config.services[0].acl = net::AccessList(std::nullopt, {*lo});
  EXPECT_VERDICT(CheckConnection(t.Ref(0), a.conn.get(), t.View()).verdict, Kind::kForged,
                 "peer refused by allow/deny");
}

TEST(RequestCheckTest, ConnectionItsClientResetIsClosedNotForged) {
  Table t;
  Accepted a = Connect(t.socket(0));
  linger hard{1, 0};  // close sends a reset
  ASSERT_EQ(setsockopt(a.client.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
  a.client.reset();
  pollfd p{a.conn.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  Admission got = CheckConnection(t.Ref(0), a.conn.get(), t.View());
  EXPECT_VERDICT(got.verdict, Kind::kRefuse, "connection closed before it was served");
  EXPECT_EQ(got.verdict.outcome, Outcome::kClosed);
}

TEST(RequestCheckTest, UdpWaitStart) {
  Table t;
  UniqueFd sock = Dup(t.socket(1).fd.get());
  // Nothing queued: another process sharing the socket took it.
  EXPECT_VERDICT(CheckUdpWaitStart(t.Ref(1), sock.get(), t.View()).verdict, Kind::kRefuse,
                 "no datagram waits on the wait socket");
  UniqueFd client = Bound(SOCK_DGRAM);
  SendFrom(client.get(), t.socket(1).ep);
  Admission got = CheckUdpWaitStart(t.Ref(1), sock.get(), t.View());
  EXPECT_VERDICT(got.verdict, Kind::kAdmit, "");
  EXPECT_EQ(got.from, t.sockets[1]);
  EXPECT_TRUE(got.wait);
  EXPECT_NE(got.ino, 0u);
  EXPECT_EQ(got.kind, spawn::Connection::Kind::kUdp);
  EXPECT_TRUE(got.peer == LocalOf(client.get()));
  // The checks only peeked: the datagram is still there for the child.
  EXPECT_VERDICT(CheckUdpWaitStart(t.Ref(1), sock.get(), t.View()).verdict, Kind::kAdmit, "");
  // The nowait service's socket, or any other, is not the wait service's.
  UniqueFd nowait = Dup(t.socket(2).fd.get());
  EXPECT_VERDICT(CheckUdpWaitStart(t.Ref(1), nowait.get(), t.View()).verdict, Kind::kForged,
                 "descriptor does not belong to the service");
  EXPECT_VERDICT(CheckUdpWaitStart(t.Ref(2), nowait.get(), t.View()).verdict, Kind::kForged,
                 "request does not match the service's protocol");
  // A child holds the socket already.
  Child& holder = t.children[4242];
  holder.service = "tftp";
  holder.wait = true;
  holder.wait_ep = t.socket(1).ep;
  EXPECT_VERDICT(CheckUdpWaitStart(t.Ref(1), sock.get(), t.View()).verdict, Kind::kForged,
                 "wait socket is busy");
}

TEST(RequestCheckTest, FreshSocketMustBeNewAndAtTheAddressConnectedOrNot) {
  Table t;
  const ListenSocket& from = t.socket(2);
  ino_t old_ino = SocketInode(from.fd.get());
  UniqueFd fresh = Bound(SOCK_DGRAM, from.ep.port());
  EXPECT_VERDICT(CheckFreshSocket(t.View(), from, old_ino, fresh.get()), Kind::kAdmit, "");
  // Another address.
  UniqueFd astray = Bound(SOCK_DGRAM);
  EXPECT_VERDICT(CheckFreshSocket(t.View(), from, old_ino, astray.get()), Kind::kForged,
                 "handover socket is not bound to the service's address");
  // The old socket again, or one the table (or a reload's) holds.
  UniqueFd same = Dup(from.fd.get());
  EXPECT_VERDICT(CheckFreshSocket(t.View(), from, old_ino, same.get()), Kind::kForged,
                 "handover socket is not a fresh one");
  SocketList pending;
  auto kept = std::make_shared<ListenSocket>();
  kept->fd = Dup(fresh.get());
  pending.push_back(kept);
  t.reload_sockets = &pending;
  EXPECT_VERDICT(CheckFreshSocket(t.View(), from, old_ino, fresh.get()), Kind::kForged,
                 "handover socket is not a fresh one");
  t.reload_sockets = nullptr;
  // Connected already: the listener's next handover of the same burst
  // (this socket, connected to the next peer) may come before this one is
  // read, so it is still fresh.
  UniqueFd peer = Bound(SOCK_DGRAM);
  net::Endpoint peer_ep = LocalOf(peer.get());
  ASSERT_EQ(connect(fresh.get(), peer_ep.sa(), peer_ep.len), 0);
  EXPECT_VERDICT(CheckFreshSocket(t.View(), from, old_ino, fresh.get()), Kind::kAdmit, "");
}

TEST(RequestCheckTest, UdpHandoverInTwoSteps) {
  Table t;
  const ListenSocket& from = t.socket(2);
  UniqueFd peer = Bound(SOCK_DGRAM);
  UniqueFd other = Bound(SOCK_DGRAM);
  UniqueFd conn = Dup(from.fd.get());
  // Not connected to its peer.
  EXPECT_VERDICT(CheckUdpHandover(t.Ref(2), conn.get(), -1, t.View()).verdict, Kind::kForged,
                 "handover socket is not connected");
  EXPECT_VERDICT(CheckUdpHandover(t.Ref(1), conn.get(), -1, t.View()).verdict, Kind::kForged,
                 "request does not match the service's protocol");
  // A datagram from another peer than the one the socket is then
  // connected to (queued before the connect, which keeps it; sent before
  // the fresh socket shares the port, so that it cannot land there).
  SendFrom(other.get(), from.ep);
  net::Endpoint peer_ep = LocalOf(peer.get());
  ASSERT_EQ(connect(conn.get(), peer_ep.sa(), peer_ep.len), 0);
  UniqueFd fresh = Bound(SOCK_DGRAM, from.ep.port());
  Admission swap = CheckUdpHandover(t.Ref(2), conn.get(), fresh.get(), t.View());
  EXPECT_VERDICT(swap.verdict, Kind::kAdmit, "");
  ASSERT_EQ(swap.from, t.sockets[2]);
  EXPECT_EQ(swap.svc, &t.config.services[2]);
  EXPECT_VERDICT(CheckHandedOver(conn.get(), swap, t.View()).verdict, Kind::kForged,
                 "handed-over datagram is not from the socket's peer");
  // Its own peer's datagram at the head (a connected socket gets its
  // peer's datagrams before any other socket on the port): admitted, not
  // as a wait child.
  char byte;
  ASSERT_EQ(recv(conn.get(), &byte, 1, MSG_DONTWAIT), 1);
  SendFrom(peer.get(), from.ep);
  Admission got = CheckHandedOver(conn.get(), swap, t.View());
  EXPECT_VERDICT(got.verdict, Kind::kAdmit, "");
  EXPECT_FALSE(got.wait);
  EXPECT_EQ(got.kind, spawn::Connection::Kind::kUdp);
  EXPECT_TRUE(got.peer == peer_ep);
  // Over max_children after the swap: refused, not forged.
  for (pid_t pid = 100; pid < 108; ++pid) t.children[pid].service = "dns";
  EXPECT_VERDICT(CheckHandedOver(conn.get(), swap, t.View()).verdict, Kind::kRefuse,
                 "over max_children");
}

// A nowait socket whose child ended with another peer's datagram left on
// it, connected by the listener to that peer: admitted only if the monitor
// saw that child end with datagrams left on that very socket.
TEST(RequestCheckTest, UdpLeftoverOnlyOnASocketWhoseChildLeftDatagrams) {
  Table t;
  const ListenSocket& from = t.socket(2);
  UniqueFd first = Bound(SOCK_DGRAM);   // the peer whose child ended
  UniqueFd second = Bound(SOCK_DGRAM);  // the one whose datagram was queued behind
  // The old socket, as handed over: both datagrams queued before the connect.
  UniqueFd sock = Dup(from.fd.get());
  SendFrom(first.get(), from.ep);
  SendFrom(second.get(), from.ep);
  t.sockets[2]->Replace(Bound(SOCK_DGRAM, from.ep.port()));  // the handover's swap
  net::Endpoint first_ep = LocalOf(first.get());
  ASSERT_EQ(connect(sock.get(), first_ep.sa(), first_ep.len), 0);
  char byte;
  ASSERT_EQ(recv(sock.get(), &byte, 1, MSG_DONTWAIT), 1);  // the first child read its own
  net::Endpoint second_ep = LocalOf(second.get());
  ASSERT_EQ(connect(sock.get(), second_ep.sa(), second_ep.len), 0);
  ino_t ino = SocketInode(sock.get());
  // Unknown to the monitor: refused (its datagrams are lost, as they were
  // before there was a hand-on), not taken for a forgery: the monitor
  // forgets what the listener was slow to name.
  Admission unknown = CheckUdpLeftover(t.Ref(2), sock.get(), t.View());
  EXPECT_VERDICT(unknown.verdict, Kind::kRefuse, "no ended child left datagrams on this socket");
  EXPECT_EQ(unknown.verdict.outcome, Outcome::kClosed);
  t.leftovers.Add({ino, 2, t.generation, from.ep, std::chrono::steady_clock::now()});
  Admission got = CheckUdpLeftover(t.Ref(2), sock.get(), t.View());
  EXPECT_VERDICT(got.verdict, Kind::kAdmit, "");
  EXPECT_EQ(got.from, t.sockets[2]);
  EXPECT_EQ(got.ino, ino);
  EXPECT_EQ(got.kind, spawn::Connection::Kind::kUdp);
  EXPECT_FALSE(got.wait);
  EXPECT_TRUE(got.peer == second_ep);
  // Known under another service, or another generation: refused.
  EXPECT_VERDICT(CheckUdpLeftover(t.Ref(1), sock.get(), t.View()).verdict, Kind::kForged,
                 "request does not match the service's protocol");
  t.leftovers.Remove(ino);
  t.leftovers.Add({ino, 2, t.generation - 1, from.ep, std::chrono::steady_clock::now()});
  EXPECT_VERDICT(CheckUdpLeftover(t.Ref(2), sock.get(), t.View()).verdict, Kind::kRefuse,
                 "no ended child left datagrams on this socket");
  t.leftovers.Add({ino, 2, t.generation, from.ep, std::chrono::steady_clock::now()});
  // The table's own listening socket, or any other: never known.
  EXPECT_VERDICT(CheckUdpLeftover(t.Ref(2), from.fd.get(), t.View()).verdict, Kind::kRefuse,
                 "no ended child left datagrams on this socket");
  // Connected to a peer whose datagram is not the one at the head: the
  // listener peeked at the head and connected to its sender, and nobody
  // else holds the socket, so that is no honest request.
  ASSERT_EQ(connect(sock.get(), first_ep.sa(), first_ep.len), 0);
  EXPECT_VERDICT(CheckUdpLeftover(t.Ref(2), sock.get(), t.View()).verdict, Kind::kForged,
                 "handed-over datagram is not from the socket's peer");
  // Not connected at all.
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_EQ(connect(sock.get(), &unspec, sizeof unspec), 0);
  EXPECT_VERDICT(CheckUdpLeftover(t.Ref(2), sock.get(), t.View()).verdict, Kind::kForged,
                 "handover socket is not connected");
  // Over max_children: refused like any request.
  ASSERT_EQ(connect(sock.get(), second_ep.sa(), second_ep.len), 0);
  for (pid_t pid = 100; pid < 108; ++pid) t.children[pid].service = "dns";
  EXPECT_VERDICT(CheckUdpLeftover(t.Ref(2), sock.get(), t.View()).verdict, Kind::kRefuse,
                 "over max_children");
}

TEST(UdpLeftovers, KeepsTheNewestAndForgetsTheOld) {
  UdpLeftovers l;
  auto now = std::chrono::steady_clock::now();
  net::Endpoint ep = Loopback(53);
  for (ino_t i = 1; i <= UdpLeftovers::kMax + 1; ++i) l.Add({i, 0, 1, ep, now});
  EXPECT_EQ(l.size(), UdpLeftovers::kMax);
  EXPECT_EQ(l.Find(1, 0, 1), nullptr) << "the oldest goes past kMax";
  EXPECT_NE(l.Find(2, 0, 1), nullptr);
  EXPECT_EQ(l.Find(2, 1, 1), nullptr) << "another service";
  EXPECT_EQ(l.Find(2, 0, 2), nullptr) << "another generation";
  l.Remove(2);
  EXPECT_EQ(l.Find(2, 0, 1), nullptr);
  // Past kKeep, everything older goes with the next one.
  l.Add({9999, 0, 1, ep, now + UdpLeftovers::kKeep + std::chrono::seconds(1)});
  EXPECT_EQ(l.size(), 1u);
  EXPECT_NE(l.Find(9999, 0, 1), nullptr);
}

TEST(RequestCheckTest, AfterASwapTheTableKnowsTheFreshSocketAndNotTheOld) {
  // The table's sockets keep their inode per descriptor (ListenSocket::
  // inode, read once, not once per handover): after the monitor swaps the
  // fresh socket in, the next handover is of the fresh one, and the old
  // one (now the child's) is no socket of the service any more.
  Table t;
  ListenSocket& from = *t.sockets[2];
  ino_t before = from.inode();
  ASSERT_NE(before, 0u);
  UniqueFd peer = Bound(SOCK_DGRAM);
  net::Endpoint peer_ep = LocalOf(peer.get());
  UniqueFd conn = Dup(from.fd.get());
  ASSERT_EQ(connect(conn.get(), peer_ep.sa(), peer_ep.len), 0);
  UniqueFd fresh = Bound(SOCK_DGRAM, from.ep.port());
  Admission swap = CheckUdpHandover(t.Ref(2), conn.get(), fresh.get(), t.View());
  EXPECT_VERDICT(swap.verdict, Kind::kAdmit, "");
  ASSERT_EQ(swap.from, t.sockets[2]);
  swap.from->Replace(std::move(fresh));  // as Monitor::OnUdpHandover does
  EXPECT_NE(from.inode(), before);
  EXPECT_EQ(from.inode(), SocketInode(from.fd.get()));
  // The old socket again, with another fresh one: not the service's now.
  UniqueFd fresh2 = Bound(SOCK_DGRAM, from.ep.port());
  EXPECT_VERDICT(CheckUdpHandover(t.Ref(2), conn.get(), fresh2.get(), t.View()).verdict,
                 Kind::kForged, "descriptor does not belong to the service");
  // The fresh one, connected to the next peer: admitted; and the socket it
  // replaced cannot come back as a "fresh" one.
  UniqueFd peer2 = Bound(SOCK_DGRAM);
  net::Endpoint peer2_ep = LocalOf(peer2.get());
  UniqueFd conn2 = Dup(from.fd.get());
  ASSERT_EQ(connect(conn2.get(), peer2_ep.sa(), peer2_ep.len), 0);
  EXPECT_VERDICT(CheckUdpHandover(t.Ref(2), conn2.get(), fresh2.get(), t.View()).verdict,
                 Kind::kAdmit, "");
  UniqueFd same = Dup(from.fd.get());
  EXPECT_VERDICT(CheckUdpHandover(t.Ref(2), conn2.get(), same.get(), t.View()).verdict,
                 Kind::kForged, "handover socket is not a fresh one");
}

TEST(RequestCheckTest, ASocketsInodeFollowsReplaceEvenWhenANumberComesBack) {
  // Two handovers in a row without a look at the table in between: the
  // second fresh socket may get the descriptor number the first replaced.
  ListenSocket s;
  s.fd = Bound(SOCK_DGRAM);
  int number = s.fd.get();
  ino_t first = s.inode();
  ASSERT_EQ(first, SocketInode(number));
  UniqueFd second = Bound(SOCK_DGRAM);
  s.Replace(std::move(second));  // closes `number`
  UniqueFd third = Bound(SOCK_DGRAM);
  ASSERT_EQ(dup2(third.get(), number), number);
  s.Replace(UniqueFd(number));
  ASSERT_EQ(s.fd.get(), number);
  EXPECT_EQ(s.inode(), SocketInode(third.get()));
  EXPECT_NE(s.inode(), first);
}

TEST(RequestCheckTest, ReplaceSocketOnlyWhenShutDown) {
  Table t;
  const ListenSocket& from = t.socket(1);
  UniqueFd fresh = Bound(SOCK_DGRAM, from.ep.port());
  UniqueFd old = Dup(from.fd.get());
  EXPECT_VERDICT(CheckReplaceSocket(t.Ref(1), old.get(), fresh.get(), t.View()).verdict,
                 Kind::kForged, "replaced socket is not shut down");
  // What a wait child can do to the socket it holds; on an unconnected
  // datagram socket the call fails with ENOTCONN, and still shuts it down.
  (void)shutdown(old.get(), SHUT_RDWR);
  Admission got = CheckReplaceSocket(t.Ref(1), old.get(), fresh.get(), t.View());
  EXPECT_VERDICT(got.verdict, Kind::kAdmit, "");
  EXPECT_EQ(got.from, t.sockets[1]);
  // Never refused for memory (it must not be lost), and from before a
  // reload only dropped.
  t.memory_short = true;
  EXPECT_VERDICT(CheckReplaceSocket(t.Ref(1), old.get(), fresh.get(), t.View()).verdict,
                 Kind::kAdmit, "");
  RequestRef stale = t.Ref(1);
  stale.generation = 1;
  EXPECT_VERDICT(CheckReplaceSocket(stale, old.get(), fresh.get(), t.View()).verdict, Kind::kDrop,
                 "");
  // Not a udp service's.
  EXPECT_VERDICT(CheckReplaceSocket(t.Ref(0), old.get(), fresh.get(), t.View()).verdict,
                 Kind::kForged, "malformed spawn request");
  // Held by a wait child.
  Child& holder = t.children[4242];
  holder.wait = true;
  holder.wait_ep = from.ep;
  EXPECT_VERDICT(CheckReplaceSocket(t.Ref(1), old.get(), fresh.get(), t.View()).verdict,
                 Kind::kForged, "wait socket is busy");
}

TEST(RequestCheckTest, SocketsByServiceKeepsTheTableOrderAndDropsStrays) {
  Table t;
  t.Add(0, Bound(SOCK_STREAM), net::Transport::kTcp);  // echo's second address
  auto stray = std::make_shared<ListenSocket>();
  stray->service = 7;  // no such service
  SocketList all = t.sockets;
  all.push_back(stray);
  std::vector<SocketList> by = SocketsByService(all, t.config.services.size());
  ASSERT_EQ(by.size(), 3u);
  EXPECT_EQ(by[0], (SocketList{t.sockets[0], t.sockets[3]}));
  EXPECT_EQ(by[1], (SocketList{t.sockets[1]}));
  EXPECT_EQ(by[2], (SocketList{t.sockets[2]}));
  // A connection to echo's second address is echo's.
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const net::Endpoint& second = t.socket(3).ep;
  ASSERT_EQ(connect(client.get(), second.sa(), second.len), 0);
  UniqueFd conn(accept4(t.socket(3).fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn);
  Admission a = CheckConnection(t.Ref(0), conn.get(), t.View());
  EXPECT_VERDICT(a.verdict, Kind::kAdmit, "");
  EXPECT_EQ(a.from, t.sockets[3]);
  // Not another service's.
  EXPECT_VERDICT(CheckConnection(t.Ref(1), conn.get(), t.View()).verdict, Kind::kForged,
                 "request does not match the service's protocol");
}

TEST(RequestCheckTest, LostDescriptors) {
  EXPECT_VERDICT(CheckDescriptorsLost(false, false), Kind::kForged, "too many descriptors");
  EXPECT_VERDICT(CheckDescriptorsLost(false, true), Kind::kForged, "too many descriptors");
  EXPECT_VERDICT(CheckDescriptorsLost(true, false), Kind::kRefuseExhausted,
                 "monitor out of descriptors");
  EXPECT_VERDICT(CheckDescriptorsLost(true, true), Kind::kTablesDiffer,
                 "monitor out of descriptors");
}

}  // namespace
}  // namespace hinetd::supervisor
