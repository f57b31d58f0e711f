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

TEST(WaitIdleTest, ProcessStateAndAGoneProcess) {
  EXPECT_EQ(supervisor::ProcessState(getpid()), 'R');
  // Not a child of this process, and busy (running): never idle.
  auto look = supervisor::LookIdle(getpid(), getuid(), getgid(), 1);
  EXPECT_FALSE(look.idle) << look.what;
}

}  // namespace
}  // namespace hinetd
