#include "supervisor/kmsg.h"

#include <gtest/gtest.h>

#include "sandbox/policy.h"

namespace hinetd::supervisor {
namespace {

TEST(ParseSeccompRecord, AuditLine) {
  auto r = ParseSeccompRecord(
      "5,1234,147891273,-;audit: type=1326 audit(1795317502.932:2): auid=4294967295 uid=65534 "
      "gid=65534 ses=4294967295 pid=2403 comm=\"k\" exe=\"/k\" sig=31 arch=c000003e syscall=41 "
      "compat=0 ip=0x7fce8d8eadc7 code=0x80000000\n");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pid, 2403);
  EXPECT_EQ(r->arch, 0xc000003eu);
  EXPECT_EQ(r->syscall, 41);
  EXPECT_EQ(sandbox::SyscallNameForAuditArch(r->arch, r->syscall), "socket");
  // "uid=", not "auid=".
  EXPECT_EQ(r->uid, 65534);
  EXPECT_EQ(r->comm, "k");
  EXPECT_EQ(r->code, 0x80000000u);  // SECCOMP_RET_KILL_PROCESS
  EXPECT_TRUE(r->killed());
}

TEST(ParseSeccompRecord, ALoggedCallIsNoKill) {
  // What a trial policy (SECCOMP_RET_LOG) makes the kernel write.
  auto logged = ParseSeccompAudit(
      "audit(1:3): uid=1 pid=9 comm=\"x\" arch=c000003e syscall=41 compat=0 ip=0x1 "
      "code=0x7ffc0000");
  ASSERT_TRUE(logged.has_value());
  EXPECT_FALSE(logged->killed());
  auto thread = ParseSeccompAudit("audit(1:4): uid=1 pid=9 arch=c000003e syscall=41 code=0x0");
  ASSERT_TRUE(thread.has_value());
  EXPECT_TRUE(thread->killed());  // SECCOMP_RET_KILL_THREAD
  // Without a code (an older record format): taken for a kill.
  auto bare = ParseSeccompAudit("audit(1:5): uid=1 pid=9 arch=c000003e syscall=41");
  ASSERT_TRUE(bare.has_value());
  EXPECT_FALSE(bare->code.has_value());
  EXPECT_TRUE(bare->killed());
}

TEST(SeccompLog, TakeUnclaimedLeavesTheClaimedRecords) {
  SeccompLog log;
  // Fed as the audit group gives them (no device needed).
  auto a = ParseSeccompAudit("audit(1:10): uid=1 pid=100 comm=\"a\" arch=c000003e syscall=41");
  auto b = ParseSeccompAudit("audit(1:11): uid=1 pid=200 comm=\"b\" arch=c000003e syscall=41");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->comm, "a");
  log.AddForTest(*a);
  log.AddForTest(*b);
  auto others = log.TakeUnclaimed([](pid_t pid) { return pid == 100; });
  ASSERT_EQ(others.size(), 1u);
  EXPECT_EQ(others[0].pid, 200);
  EXPECT_TRUE(log.TakeUnclaimed([](pid_t pid) { return pid == 100; }).empty());
  EXPECT_TRUE(log.Take(100).has_value());
}

TEST(ParseSeccompRecord, IgnoresOtherRecords) {
  EXPECT_FALSE(ParseSeccompRecord("6,1,2,-;EXT4-fs (vda): mounted filesystem").has_value());
  EXPECT_FALSE(ParseSeccompRecord("5,1,2,-;audit: type=1400 apparmor=\"DENIED\" pid=1").has_value());
  // A comm that looks like a field must not fool the parser.
  auto r = ParseSeccompRecord(
      "5,1,2,-;audit: type=1326 audit(1:2): uid=0 pid=77 comm=\"x pid=5\" sig=31 arch=c000003e "
      "syscall=101 compat=0");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pid, 77);
  EXPECT_EQ(r->syscall, 101);
}

TEST(ParseSeccompRecord, TheAuditSerialTellsTwoCopiesOfOneRecord) {
  auto kmsg = ParseSeccompRecord(
      "5,1,2,-;audit: type=1326 audit(1795317502.932:4711): uid=0 pid=77 sig=31 "
      "arch=c000003e syscall=101 compat=0");
  // The same record as the audit netlink socket's multicast group gives it.
  std::string body =
      "audit(1795317502.932:4711): uid=0 pid=77 sig=31 arch=c000003e syscall=101 compat=0";
  body.push_back('\0');
  auto netlink = ParseSeccompAudit(body);
  ASSERT_TRUE(kmsg.has_value());
  ASSERT_TRUE(netlink.has_value());
  EXPECT_EQ(kmsg->serial, 4711u);
  EXPECT_EQ(netlink->serial, 4711u);
  EXPECT_EQ(netlink->pid, 77);
  EXPECT_EQ(netlink->syscall, 101);
  EXPECT_EQ(ParseSeccompAudit("uid=0 pid=77 arch=c000003e syscall=101")->serial, 0u);
}

TEST(ParseSeccompRecord, MalformedNumbers) {
  EXPECT_FALSE(ParseSeccompRecord("5,1,2,-;audit: type=1326 pid=x arch=c000003e syscall=1"));
  EXPECT_FALSE(ParseSeccompRecord("5,1,2,-;audit: type=1326 pid=1 arch=zz syscall=1"));
  EXPECT_FALSE(ParseSeccompRecord("5,1,2,-;audit: type=1326 pid=1 arch=c000003e"));
}

// Found by fuzz/fuzz_kmsg.cc: a record that names pid 0 (or a negative
// pid, or a negative syscall) was taken for a seccomp kill.
TEST(ParseSeccompRecord, NoProcessOrNoSyscallIsNotARecord) {
  const char* kHead = "5,1,2,-;audit: type=1326 audit(1:2): uid=0 ";
  for (const char* rest : {"pid=0 arch=c000003e syscall=41", "pid=-7 arch=c000003e syscall=41",
                           "pid=7 arch=c000003e syscall=-1"}) {
    EXPECT_FALSE(ParseSeccompRecord(std::string(kHead) + rest)) << rest;
    EXPECT_FALSE(ParseSeccompAudit(std::string("audit(1:2): ") + rest)) << rest;
  }
  auto ok = ParseSeccompRecord(std::string(kHead) + "pid=1 arch=c000003e syscall=0");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->pid, 1);
  EXPECT_EQ(ok->syscall, 0);
}

}  // namespace
}  // namespace hinetd::supervisor
