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
