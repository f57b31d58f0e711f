// The pieces of a udp wait child's reload (wait_idle.h, spawn::PlanIdentity)
// that need no daemon: which plan changes make a child stale, and the
// kernel counter and socket looks the idle check relies on.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spawn/plan.h"
#include "supervisor/wait_idle.h"

namespace hinetd {
namespace {

spawn::SpawnPlan BasePlan() {
  spawn::SpawnPlan p;
  p.service = "tftp";
  p.path = "/usr/sbin/in.tftpd";
  p.argv_storage = {"in.tftpd", "-s", "/srv/tftp"};
  p.env_storage = {"LANG=C"};
  p.uid = 65534;
  p.gid = 65534;
  p.chroot = "/srv";
  p.rlimits = {{RLIMIT_NOFILE, 64, 64}};
  p.policy = "default";
  return p;
}

TEST(PlanIdentityTest, EqualPlansAreEqualAndEveryChildSettingCounts) {
  EXPECT_EQ(spawn::PlanIdentity(BasePlan()), spawn::PlanIdentity(BasePlan()));
  std::vector<std::pair<const char*, void (*)(spawn::SpawnPlan&)>> changes = {
      {"argument", [](spawn::SpawnPlan& p) { p.argv_storage[2] = "/srv/other"; }},
      {"argument split", [](spawn::SpawnPlan& p) { p.argv_storage = {"in.tftpd", "-s/srv/tftp"}; }},
      {"program", [](spawn::SpawnPlan& p) { p.path = "/usr/sbin/atftpd"; }},
      {"env", [](spawn::SpawnPlan& p) { p.env_storage.push_back("TZ=UTC"); }},
      {"user", [](spawn::SpawnPlan& p) { p.uid = 1000; }},
      {"group", [](spawn::SpawnPlan& p) { p.gid = 1000; }},
      {"groups", [](spawn::SpawnPlan& p) { p.groups = {4}; }},
      {"chroot", [](spawn::SpawnPlan& p) { p.chroot = ""; }},
      {"workdir", [](spawn::SpawnPlan& p) { p.workdir = "/tftp"; }},
      {"rlimit", [](spawn::SpawnPlan& p) { p.rlimits[0].soft = 32; }},
      {"umask", [](spawn::SpawnPlan& p) { p.umask = 077; }},
      {"namespaces", [](spawn::SpawnPlan& p) { p.clone_flags = 0x20000000; }},
      {"policy name", [](spawn::SpawnPlan& p) { p.policy = "stdio"; }},
      {"filter", [](spawn::SpawnPlan& p) {
         p.filter = std::make_shared<const sandbox::BpfProgram>(
             std::vector<sock_filter>{{0x06, 0, 0, 0x7fff0000}});
       }},
  };
  std::string base = spawn::PlanIdentity(BasePlan());
  for (const auto& [what, change] : changes) {
    spawn::SpawnPlan p = BasePlan();
    change(p);
    EXPECT_NE(spawn::PlanIdentity(p), base) << what;
  }
  // Two filters with the same instructions are the same plan (a reload
  // compiles the policy again).
  spawn::SpawnPlan a = BasePlan(), b = BasePlan();
  a.filter = std::make_shared<const sandbox::BpfProgram>(
      std::vector<sock_filter>{{0x06, 0, 0, 0x7fff0000}});
  b.filter = std::make_shared<const sandbox::BpfProgram>(
      std::vector<sock_filter>{{0x06, 0, 0, 0x7fff0000}});
  EXPECT_EQ(spawn::PlanIdentity(a), spawn::PlanIdentity(b));
}

TEST(WaitIdleTest, DatagramsDeliveredCountsReadsNotPeeks) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  ASSERT_GE(c, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
  EXPECT_FALSE(supervisor::DatagramQueued(s));
  int64_t before = supervisor::DatagramsDelivered();
  ASSERT_GE(before, 0);
  // An empty datagram is queued too (SIOCINQ would say 0).
  ASSERT_EQ(sendto(c, "", 0, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  pollfd p{s, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 5000), 1);
  EXPECT_TRUE(supervisor::DatagramQueued(s));
  char buf[8];
  ASSERT_EQ(recv(s, buf, sizeof buf, MSG_PEEK), 0);
  EXPECT_TRUE(supervisor::DatagramQueued(s));
  ASSERT_EQ(recv(s, buf, sizeof buf, 0), 0);
  EXPECT_FALSE(supervisor::DatagramQueued(s));
  // Others may read datagrams meanwhile (the counter is the namespace's):
  // at least this one read counts.
  EXPECT_GE(supervisor::DatagramsDelivered(), before + 1);
  close(s);
  close(c);
}

// The mark that tells whether a stale wait child took a datagram between
// two looks: reading this socket moves it, through any descriptor of it
// (the child holds its own); other sockets' traffic moves only the
// namespace's counter, never the socket's stamp, so the mark holds still
// on a busy host.
TEST(WaitIdleTest, ReceiveMarkMovesWhenThisSocketIsReadAndOnlyThen) {
  auto bound = [] {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return s;
  };
  auto send_to = [](int from, int to) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ASSERT_EQ(getsockname(to, reinterpret_cast<sockaddr*>(&a), &len), 0);
    ASSERT_EQ(sendto(from, "d", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof a), 1);
    pollfd p{to, POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 5000), 1);
  };
  int s = bound(), child = dup(s), c = bound(), other = bound();
  ASSERT_GE(child, 0);
  char buf[8];
  auto first = supervisor::MarkReceives(s);
  ASSERT_TRUE(first.stamp.has_value());
  ASSERT_GE(first.delivered, 0);
  EXPECT_TRUE(supervisor::NothingTakenBetween(first, supervisor::MarkReceives(s)));

  // Another socket's datagrams: the namespace's counter moves, the
  // socket's stamp does not.
  for (int i = 0; i < 3; ++i) {
    send_to(c, other);
    ASSERT_EQ(recv(other, buf, sizeof buf, 0), 1);
  }
  auto after_other = supervisor::MarkReceives(s);
  EXPECT_GT(after_other.delivered, first.delivered);
  EXPECT_EQ(after_other.stamp, first.stamp);
  EXPECT_TRUE(supervisor::NothingTakenBetween(first, after_other));

  // Its own datagrams, read through the other descriptor: both move, the
  // first one read and every later one.
  auto before = after_other;
  for (int i = 0; i < 3; ++i) {
    send_to(c, s);
    ASSERT_EQ(recv(child, buf, sizeof buf, 0), 1);
    auto now = supervisor::MarkReceives(s);
    ASSERT_TRUE(now.stamp.has_value());
    EXPECT_NE(now.stamp, before.stamp) << "read " << i;
    EXPECT_FALSE(supervisor::NothingTakenBetween(before, now)) << "read " << i;
    before = now;
  }

  // A holder that asks for receive timestamps gets them instead of the
  // socket's stamp: the stamp cannot tell, and only the counter is left.
  int on = 1;
  ASSERT_EQ(setsockopt(child, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof on), 0);
  auto timestamped = supervisor::MarkReceives(s);
  EXPECT_FALSE(timestamped.stamp.has_value());
  send_to(c, s);
  ASSERT_EQ(recv(child, buf, sizeof buf, 0), 1);
  EXPECT_FALSE(supervisor::NothingTakenBetween(timestamped, supervisor::MarkReceives(s)));
  // Without a socket, the counter alone.
  EXPECT_FALSE(supervisor::MarkReceives(-1).stamp.has_value());
  for (int fd : {s, child, c, other}) close(fd);
}

TEST(WaitIdleTest, ProcessStateAndAGoneProcess) {
  EXPECT_EQ(supervisor::ProcessState(getpid()), 'R');
  // Not a child of this process, and busy (running): never idle.
  auto look = supervisor::LookIdle(getpid(), getuid(), getgid(), 1);
  EXPECT_FALSE(look.idle) << look.what;
}

}  // namespace
}  // namespace hinetd
