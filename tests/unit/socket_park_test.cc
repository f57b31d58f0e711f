// The monitor's socket park (supervisor/socket_park.h), on real loopback
// sockets: what goes into flight, that a parked socket goes on listening
// (a client connects while it is parked and is accepted on the descriptor
// that comes back), and that nothing is lost when this process has no room
// to take the sockets back.
#include "supervisor/socket_park.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace hinetd::supervisor {
namespace {

using base::UniqueFd;

std::shared_ptr<ListenSocket> Listening(int type) {
  auto s = std::make_shared<ListenSocket>();
  s->fd.reset(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(s->fd);
  in_addr a{};
  inet_pton(AF_INET, "127.0.0.1", &a);
  net::Endpoint any = net::Endpoint::Inet4(a, 0);
  EXPECT_EQ(bind(s->fd.get(), any.sa(), any.len), 0);
  if (type == SOCK_STREAM) {
    EXPECT_EQ(listen(s->fd.get(), 8), 0);
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  EXPECT_EQ(getsockname(s->fd.get(), reinterpret_cast<sockaddr*>(&ss), &len), 0);
  s->ep = net::Endpoint::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  s->transport = type == SOCK_STREAM ? net::Transport::kTcp : net::Transport::kUdp;
  return s;
}

// Connects to `ep` (a listening socket's backlog takes it, accepted or not).
UniqueFd Connect(const net::Endpoint& ep) {
  UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(c);
  EXPECT_EQ(connect(c.get(), ep.sa(), ep.len), 0) << strerror(errno);
  return c;
}

// Accepts one connection on `fd` within a second, or fails.
UniqueFd AcceptOne(int fd) {
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 1000), 1);
  return UniqueFd(accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
}

size_t OpenDescriptors() {
  size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the directory's own
}

TEST(SocketParkTest, TcpSocketsGoInFlightAndComeBackListeningWithTheirBacklog) {
  SocketPark park;
  ASSERT_TRUE(park.Open().ok());
  SocketList table = {Listening(SOCK_STREAM), Listening(SOCK_DGRAM), Listening(SOCK_STREAM)};
  ino_t tcp0 = table[0]->inode();
  ino_t tcp2 = table[2]->inode();
  ASSERT_NE(tcp0, 0u);
  size_t before = OpenDescriptors();
  EXPECT_EQ(park.Park(table), 2u);
  EXPECT_EQ(OpenDescriptors(), before - 2);
  EXPECT_TRUE(table[0]->parked());
  EXPECT_FALSE(table[0]->fd.valid());
  EXPECT_EQ(table[0]->inode(), tcp0);  // named without a descriptor
  EXPECT_FALSE(table[1]->parked());    // udp: never
  EXPECT_TRUE(table[1]->fd.valid());
  // Parked, still listening: the backlog takes a client.
  UniqueFd client = Connect(table[2]->ep);
  // A second Park has nothing left to do.
  EXPECT_EQ(park.Park(table), 2u);
  ASSERT_TRUE(park.UnparkAll().ok());
  EXPECT_EQ(park.parked(), 0u);
  EXPECT_EQ(OpenDescriptors(), before + 1);  // and the client
  for (size_t i : {0u, 2u}) {
    EXPECT_FALSE(table[i]->parked());
    ASSERT_TRUE(table[i]->fd.valid());
    EXPECT_EQ(fcntl(table[i]->fd.get(), F_GETFD), FD_CLOEXEC);
  }
  EXPECT_EQ(SocketInode(table[0]->fd.get()), tcp0);
  EXPECT_EQ(SocketInode(table[2]->fd.get()), tcp2);
  EXPECT_TRUE(AcceptOne(table[2]->fd.get()).valid()) << "the client that came while parked";
  // In flight and back again, as often as it takes.
  EXPECT_EQ(park.Park(table), 2u);
  ASSERT_TRUE(park.UnparkAll().ok());
  EXPECT_EQ(SocketInode(table[0]->fd.get()), tcp0);
}

TEST(SocketParkTest, MoreSocketsThanOneMessageCarries) {
  SocketPark park;
  ASSERT_TRUE(park.Open().ok());
  SocketList table;
  std::vector<ino_t> inodes;
  for (int i = 0; i < 600; ++i) {  // three messages: 253 + 253 + 94
    table.push_back(Listening(SOCK_STREAM));
    inodes.push_back(table.back()->inode());
  }
  size_t before = OpenDescriptors();
  EXPECT_EQ(park.Park(table), 600u);
  EXPECT_EQ(OpenDescriptors(), before - 600);
  UniqueFd client = Connect(table[599]->ep);
  ASSERT_TRUE(park.UnparkAll().ok());
  for (size_t i = 0; i < table.size(); ++i) {
    ASSERT_TRUE(table[i]->fd.valid()) << i;
    EXPECT_EQ(SocketInode(table[i]->fd.get()), inodes[i]) << i;
  }
  EXPECT_TRUE(AcceptOne(table[599]->fd.get()).valid());
}

TEST(SocketParkTest, NoRoomToTakeThemBackLosesNothing) {
  SocketPark park;
  ASSERT_TRUE(park.Open().ok());
  SocketList table;
  for (int i = 0; i < 40; ++i) table.push_back(Listening(SOCK_STREAM));
  ino_t last = table.back()->inode();
  ASSERT_EQ(park.Park(table), 40u);
  UniqueFd client = Connect(table.back()->ep);
  // Fill the descriptor table but for 10 numbers under a lowered limit.
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = OpenDescriptors() + 64;
  ASSERT_LE(low.rlim_cur, saved.rlim_cur);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  UniqueFd any(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(any);
  std::vector<UniqueFd> filler;
  for (int i = 0; i < 100000; ++i) {  // bounded: the limit stops it after about 64
    UniqueFd f(fcntl(any.get(), F_DUPFD_CLOEXEC, 0));
    if (!f) break;
    filler.push_back(std::move(f));
  }
  ASSERT_GE(filler.size(), 10u);
  ASSERT_EQ(errno, EMFILE);
  for (int i = 0; i < 10; ++i) filler.pop_back();
  base::Status s = park.UnparkAll();
  size_t still_parked = park.parked();
  filler.clear();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("RLIMIT_NOFILE"), std::string::npos) << s.error().message();
  EXPECT_EQ(still_parked, 40u);  // all still in flight
  EXPECT_TRUE(table.front()->parked());
  ASSERT_TRUE(park.UnparkAll().ok());
  ASSERT_TRUE(table.back()->fd.valid());
  EXPECT_EQ(SocketInode(table.back()->fd.get()), last);
  EXPECT_TRUE(AcceptOne(table.back()->fd.get()).valid()) << "the backlog survived";
}

TEST(SocketParkTest, ASocketReplacedWhileParkedKeepsItsReplacement) {
  SocketPark park;
  ASSERT_TRUE(park.Open().ok());
  SocketList table = {Listening(SOCK_STREAM)};
  ASSERT_EQ(park.Park(table), 1u);
  auto other = Listening(SOCK_STREAM);
  ino_t replacement = other->inode();
  table[0]->Replace(std::move(other->fd));
  EXPECT_FALSE(table[0]->parked());
  ASSERT_TRUE(park.UnparkAll().ok());
  EXPECT_EQ(SocketInode(table[0]->fd.get()), replacement);
  EXPECT_EQ(table[0]->inode(), replacement);
}

TEST(SocketParkTest, ReleaseClosesTheParkedSockets) {
  SocketPark park;
  ASSERT_TRUE(park.Open().ok());
  SocketList table = {Listening(SOCK_STREAM)};
  net::Endpoint ep = table[0]->ep;
  ASSERT_EQ(park.Park(table), 1u);
  { UniqueFd still = Connect(ep); }  // listening while parked
  park.Release();
  EXPECT_EQ(park.parked(), 0u);
  UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(c);
  EXPECT_NE(connect(c.get(), ep.sa(), ep.len), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  // Nothing left to park or take back.
  EXPECT_EQ(park.Park(table), 0u);
  EXPECT_TRUE(park.UnparkAll().ok());
}

TEST(SocketParkTest, WithoutOpenNothingIsParked) {
  SocketPark park;
  SocketList table = {Listening(SOCK_STREAM)};
  EXPECT_EQ(park.Park(table), 0u);
  EXPECT_TRUE(table[0]->fd.valid());
  EXPECT_TRUE(park.UnparkAll().ok());
}

}  // namespace
}  // namespace hinetd::supervisor
