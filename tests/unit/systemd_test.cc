// The sd_notify and sd_listen_fds sides written without libsystemd
// (supervisor/systemd.h): datagrams to a path socket, what each kind of
// descriptor is taken as or refused for, and the environment left behind.
#include "supervisor/systemd.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/jail.h"

namespace hinetd::supervisor {
namespace {

int BoundDgram(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::strncpy(un.sun_path, path.c_str(), sizeof un.sun_path - 1);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) return -1;
  return fd;
}

TEST(NotifierTest, SendsDatagramsToAPathAndClearsTheVariable) {
  testing::TempDir dir;
  std::string path = dir.path() + "/notify";
  int server = BoundDgram(path);
  ASSERT_GE(server, 0);
  setenv("NOTIFY_SOCKET", path.c_str(), 1);
  auto n = Notifier::FromEnvironment();
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(getenv("NOTIFY_SOCKET"), nullptr);
  ASSERT_TRUE(n->enabled());
  ASSERT_TRUE(n->Send("READY=1\nSTATUS=x").ok());
  char buf[256];
  ssize_t got = recv(server, buf, sizeof buf, MSG_DONTWAIT);
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(got)), "READY=1\nSTATUS=x");
  close(server);
}

TEST(NotifierTest, UnsetOrBadAddress) {
  unsetenv("NOTIFY_SOCKET");
  auto none = Notifier::FromEnvironment();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled());
  EXPECT_TRUE(none->Send("READY=1").ok());  // a no-op
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  auto bad = Notifier::FromEnvironment();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().ToString().find("NOTIFY_SOCKET=relative/path"), std::string::npos);
  EXPECT_EQ(getenv("NOTIFY_SOCKET"), nullptr);
}

TEST(NotifierTest, ReloadingCarriesTheMonotonicClock) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t before = static_cast<uint64_t>(ts.tv_sec) * 1000000u + ts.tv_nsec / 1000u;
  std::string s = ReloadingState();
  ASSERT_EQ(s.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << s;
  uint64_t usec = std::stoull(s.substr(s.rfind('=') + 1));
  EXPECT_GE(usec, before);
  EXPECT_LT(usec - before, 60u * 1000000u);
}

TEST(ListenFdsTest, OtherProcessesVariablesAreClearedNotTaken) {
  setenv("LISTEN_PID", std::to_string(getpid() + 1).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", "x", 1);
  auto got = TakeListenFds();
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(getenv("LISTEN_FDNAMES"), nullptr);
}

TEST(ListenFdsTest, MalformedCountIsAnError) {
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "two", 1);
  auto got = TakeListenFds();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().ToString().find("LISTEN_FDS=\"two\""), std::string::npos);
}

TEST(ListenFdsTest, InspectsWhatIsPassed) {
  // A listening TCP socket: taken, with its address, close-on-exec.
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(tcp, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  ASSERT_EQ(listen(tcp, 1), 0);
  auto p = InspectPassedSocket(tcp, 3, "web");
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->transport, net::Transport::kTcp);
  EXPECT_EQ(p->ep.family(), AF_INET);
  EXPECT_NE(p->Describe().find("fd 3 (name \"web\", tcp 127.0.0.1:"), std::string::npos)
      << p->Describe();
  EXPECT_EQ(fcntl(p->fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_NE(fcntl(p->fd.get(), F_GETFL) & O_NONBLOCK, 0);

  // UDP: a datagram socket.
  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  auto u = InspectPassedSocket(udp, 4, "");
  ASSERT_TRUE(u.ok()) << u.error().ToString();
  EXPECT_EQ(u->transport, net::Transport::kUdp);

  // Not a socket; a stream socket that does not listen (Accept=yes).
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  auto np = InspectPassedSocket(pipefd[0], 5, "");
  ASSERT_FALSE(np.ok());
  EXPECT_NE(np.error().ToString().find("fd 5: not a socket"), std::string::npos);
  close(pipefd[0]);
  close(pipefd[1]);
  int idle = socket(AF_INET, SOCK_STREAM, 0);
  auto nl = InspectPassedSocket(idle, 6, "");
  ASSERT_FALSE(nl.ok());
  EXPECT_NE(nl.error().ToString().find("not listening"), std::string::npos);
  close(idle);
}

}  // namespace
}  // namespace hinetd::supervisor
