// Argument rules: the condition language, its errors with positions, and
// what the compiled filter decides for calls with given arguments (run in
// the user-space BPF evaluator, including calls that set the upper half of
// a 32-bit argument, which the kernel ignores and a filter sees).
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include "common/jail.h"
#include "config/policy_file.h"
#include "sandbox/arg_rules.h"
#include "sandbox/bpf.h"
#include "sandbox/policy.h"
#include "sandbox/syscall_args.h"

namespace hinetd {
namespace {

using sandbox::ArgCompare;
using sandbox::CompareOp;
using sandbox::NativeAuditArch;
using sandbox::ParseCondition;
using testing::TempDir;

bool StartsWith(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

std::string ParseErr(const std::string& syscall, const std::string& text) {
  auto r = ParseCondition(syscall, text);
  if (r.ok()) return "<parsed>";
  return std::to_string(r.error().loc().column) + ": " + r.error().message();
}

TEST(ArgTable, KnowsKindsFromTheKernel) {
  const auto* socket = sandbox::SyscallArgs("socket");
  ASSERT_NE(socket, nullptr);
  ASSERT_EQ(socket->size(), 3u);
  EXPECT_EQ((*socket)[0].name, "family");
  EXPECT_EQ((*socket)[0].kind, sandbox::ArgKind::k32);
  const auto* openat = sandbox::SyscallArgs("openat");
  ASSERT_NE(openat, nullptr);
  EXPECT_EQ((*openat)[1].kind, sandbox::ArgKind::kPointer);
  EXPECT_EQ((*sandbox::SyscallArgs("clone"))[0].kind, sandbox::ArgKind::k64);
  // Names that differ between the kernel's trace events and libseccomp.
  EXPECT_NE(sandbox::SyscallArgs("uname"), nullptr);
  EXPECT_NE(sandbox::SyscallArgs("fstat"), nullptr);
  // Every entry is a syscall libseccomp knows (the generator's aliases).
  for (const char* name : {"socket", "ioctl", "prctl", "mmap", "mprotect", "kill", "clone"}) {
    EXPECT_GE(sandbox::NativeSyscallNumber(name), 0) << name;
  }
}

TEST(ArgTable, DescribesValuesAsARuleWouldWriteThem) {
  EXPECT_EQ(sandbox::DescribeValue("socket", 0, AF_UNIX), "AF_UNIX");
  EXPECT_EQ(sandbox::DescribeValue("socket", 1, SOCK_STREAM | SOCK_CLOEXEC),
            "SOCK_STREAM|SOCK_CLOEXEC");
  EXPECT_EQ(sandbox::DescribeValue("mprotect", 2, PROT_READ | PROT_WRITE),
            "PROT_READ|PROT_WRITE");
  EXPECT_EQ(sandbox::DescribeValue("mprotect", 2, 0), "PROT_NONE");
  EXPECT_EQ(sandbox::DescribeValue("ioctl", 1, TCGETS), "TCGETS");
  EXPECT_EQ(sandbox::DescribeValue("prctl", 0, PR_SET_NAME), "PR_SET_NAME");
  EXPECT_EQ(sandbox::DescribeValue("clone", 0, CLONE_NEWUSER | SIGCHLD), "CLONE_NEWUSER|SIGCHLD");
  EXPECT_EQ(sandbox::DescribeValue("kill", 0, static_cast<uint64_t>(-1)), "-1");
  EXPECT_EQ(sandbox::DescribeValue("openat", 2, O_RDONLY | O_CLOEXEC), "O_RDONLY|O_CLOEXEC");
  EXPECT_EQ(sandbox::DescribeValue("mmap", 3, MAP_PRIVATE | MAP_ANONYMOUS),
            "MAP_PRIVATE|MAP_ANONYMOUS");
  // The upper half of a 32-bit argument is not what the kernel sees.
  EXPECT_EQ(sandbox::DescribeValue("socket", 0, (uint64_t{1} << 32) | AF_INET), "AF_INET");
}

TEST(ArgTable, ArgumentsThatMatterAreNumbers) {
  for (const char* name : {"socket", "ioctl", "prctl", "clone", "mmap", "mprotect"}) {
    auto args = sandbox::ArgumentsThatMatter(name);
    ASSERT_FALSE(args.empty()) << name;
    const auto* list = sandbox::SyscallArgs(name);
    ASSERT_NE(list, nullptr) << name;
    for (const auto& a : args) EXPECT_NE((*list)[a.index].kind, sandbox::ArgKind::kPointer);
  }
  EXPECT_EQ(sandbox::ArgumentsThatMatter("clone")[0].danger_mask & CLONE_NEWUSER,
            static_cast<uint64_t>(CLONE_NEWUSER));
}

TEST(Condition, ParsesComparisonsMasksAndConstants) {
  auto r = ParseCondition("socket", "family == AF_UNIX");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  // 32-bit: compared on the lower half only.
  EXPECT_EQ((*r)[0].all[0], (ArgCompare{0, CompareOp::kMaskedEq, 0xffffffff, AF_UNIX}));

  r = ParseCondition("clone", "clone_flags & (CLONE_NEWUSER|CLONE_NEWNET) == 0");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)[0].all[0],
            (ArgCompare{0, CompareOp::kMaskedEq, CLONE_NEWUSER | CLONE_NEWNET, 0}));

  // != on a mask: one alternative per bit.
  r = ParseCondition("clone", "arg0 & (CLONE_NEWUSER|CLONE_NEWNET) != 0");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->size(), 2u);

  // && joins; two masks on one argument merge into one.
  r = ParseCondition("mmap", "prot & PROT_EXEC == 0 && flags & MAP_SHARED == 0 && prot & 0x8 == 0");
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  ASSERT_EQ((*r)[0].all.size(), 2u);
  EXPECT_EQ((*r)[0].all[0].mask, static_cast<uint64_t>(PROT_EXEC | 0x8));

  r = ParseCondition("kill", "pid == 0 && sig < 32");
  ASSERT_TRUE(r.ok()) << r.error().message();
  r = ParseCondition("mmap", "len <= 0x10000 && fd == -1");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)[0].all[1].value, ~uint64_t{0});
}

TEST(Condition, MistakesSayWhereAndWhy) {
  EXPECT_EQ(ParseErr("socket", "family == AF_UNIKS"),
            "11: unknown constant 'AF_UNIKS' (hinetd knows AF_*, SOCK_*, CLONE_*, PROT_*, MAP_*, "
            "O_*, F_*, PR_*, TC*/TIOC*/FIO* (ioctl), SIG*, AT_FDCWD; or write the number)");
  EXPECT_PRED2(StartsWith, ParseErr("socket", "domain == 1"), "1: socket has no argument 'domain'");
  EXPECT_EQ(ParseErr("openat", "filename == 0"),
            "1: argument 'filename' of openat is a pointer: a filter sees the address, not what "
            "it points to, so a rule on it decides nothing");
  EXPECT_PRED2(StartsWith, ParseErr("socket", "arg6 == 1"), "1: socket has no argument 'arg6'");
  EXPECT_PRED2(StartsWith, ParseErr("socket", "family != AF_INET"), "8: 'family' is a 32-bit argument: the ker");
  EXPECT_EQ(ParseErr("socket", "family == 1 family == 2"),
            "13: expected \"&&\" or the end of the condition, got 'family'");
  EXPECT_EQ(ParseErr("socket", "family = 1"), "8: unexpected '=' (a condition reads like "
                                              "\"family == AF_UNIX\" or \"prot & PROT_EXEC == 0\")");
  EXPECT_PRED2(StartsWith, ParseErr("kill", "pid < 3 && pid < 5"), "12: two comparisons of 'pid' in on");
  EXPECT_EQ(ParseErr("mprotect", "prot & PROT_EXEC == 0 && prot & PROT_EXEC == PROT_EXEC"),
            "1: this condition can never hold (its comparisons contradict each other)");
  EXPECT_EQ(ParseErr("mprotect", "prot & PROT_READ == 3"),
            "21: 'prot & MASK' can never equal a value with bits outside MASK");
  EXPECT_EQ(ParseErr("socket", ""), "1: empty condition (e.g. \"family == AF_UNIX\")");
  EXPECT_EQ(ParseErr("socket", "family == 12z"),
            "11: '12z' is not a number (decimal, 0x hexadecimal or 0o octal)");
}

class ArgPolicyTest : public ::testing::Test {
 protected:
  base::Result<sandbox::PolicySpec> Load(const std::string& name) {
    config::PolicyLoader loader(dir_.path());
    return loader.Load(name, base::SourceLoc{"hinetd.toml", 1, 1});
  }
  std::string Err(const std::string& name) {
    auto r = Load(name);
    if (r.ok()) {
      auto p = sandbox::Compile(*r);
      if (p.ok()) return "<loaded>";
      return p.error().ToString();
    }
    std::string e = r.error().ToString();
    std::string prefix = dir_.path() + "/";
    if (e.rfind(prefix, 0) == 0) e = e.substr(prefix.size());
    return e;
  }
  std::unique_ptr<sandbox::BpfProgram> Compile(const std::string& name, const std::string& text) {
    dir_.Write(name + ".toml", text);
    auto spec = Load(name);
    EXPECT_TRUE(spec.ok()) << spec.error().ToString();
    if (!spec.ok()) return nullptr;
    auto prog = sandbox::Compile(*spec);
    EXPECT_TRUE(prog.ok()) << prog.error().ToString();
    return prog.ok() ? std::move(*prog) : nullptr;
  }
  uint32_t Verdict(const sandbox::BpfProgram& p, int nr, std::initializer_list<uint64_t> args) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = NativeAuditArch();
    size_t i = 0;
    for (uint64_t a : args) d.args[i++] = a;
    auto r = sandbox::RunBpf(p.insns(), d);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : 0;
  }
  TempDir dir_;
};

TEST_F(ArgPolicyTest, AllowsOnlyMatchingCallsAndTheRestGetsTheDefault) {
  auto p = Compile("p",
                   "allow = [\"read\",\n"
                   "  { syscall = \"socket\", when = \"family == AF_UNIX\" },\n"
                   "  { syscall = \"ioctl\", when = [\"cmd == TCGETS\", \"cmd == FIONREAD\"] },\n"
                   "  { syscall = \"mprotect\", when = \"prot & PROT_EXEC == 0\" },\n"
                   "  { syscall = \"kill\", when = \"pid == 0\" },\n"
                   "]\n"
                   "[errno]\n"
                   "socket = { errno = \"EACCES\", when = \"family == AF_INET\" }\n");
  ASSERT_NE(p, nullptr);
  constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
  constexpr uint32_t kKill = SECCOMP_RET_KILL_PROCESS;
  EXPECT_EQ(Verdict(*p, SYS_socket, {AF_UNIX, SOCK_STREAM, 0}), kAllow);
  EXPECT_EQ(Verdict(*p, SYS_socket, {AF_INET, SOCK_STREAM, 0}), SECCOMP_RET_ERRNO | EACCES);
  EXPECT_EQ(Verdict(*p, SYS_socket, {AF_INET6, SOCK_STREAM, 0}), kKill);
  // The upper half of a 32-bit argument: the kernel sees AF_UNIX, so does the rule.
  EXPECT_EQ(Verdict(*p, SYS_socket, {(uint64_t{7} << 32) | AF_UNIX, SOCK_STREAM, 0}), kAllow);
  EXPECT_EQ(Verdict(*p, SYS_socket, {(uint64_t{7} << 32) | AF_INET6, SOCK_STREAM, 0}), kKill);
  EXPECT_EQ(Verdict(*p, SYS_ioctl, {0, TCGETS, 0}), kAllow);
  EXPECT_EQ(Verdict(*p, SYS_ioctl, {0, FIONREAD, 0}), kAllow);
  EXPECT_EQ(Verdict(*p, SYS_ioctl, {0, TIOCSTI, 0}), kKill);
  EXPECT_EQ(Verdict(*p, SYS_mprotect, {0x1000, 4096, PROT_READ}), kAllow);
  EXPECT_EQ(Verdict(*p, SYS_mprotect, {0x1000, 4096, PROT_READ | PROT_EXEC}), kKill);
  EXPECT_EQ(Verdict(*p, SYS_kill, {0, SIGTERM}), kAllow);
  EXPECT_EQ(Verdict(*p, SYS_kill, {1, SIGTERM}), kKill);
  EXPECT_EQ(Verdict(*p, SYS_kill, {uint64_t{1} << 32, SIGTERM}), kAllow);  // the kernel sees 0
  EXPECT_EQ(Verdict(*p, SYS_read, {}), kAllow);
}

TEST_F(ArgPolicyTest, CloneWithArgumentRulesSendsClone3ToTheFallback) {
  auto p = Compile("p",
                   "allow = [{ syscall = \"clone\", when = "
                   "\"clone_flags & (CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWNET) == 0\" }, \"clone3\"]\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Verdict(*p, SYS_clone, {SIGCHLD}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(*p, SYS_clone, {CLONE_NEWUSER | SIGCHLD}), SECCOMP_RET_KILL_PROCESS);
  // clone3's flags are behind a pointer: allowed whole, it would bypass the rule.
  EXPECT_EQ(Verdict(*p, SYS_clone3, {0, 88}), SECCOMP_RET_ERRNO | ENOSYS);
}

TEST_F(ArgPolicyTest, ALaterFileReplacesAnIncludedFilesRules) {
  dir_.Write("base.toml", "allow = [\"socket\", \"@io-basic\"]\n");
  auto p = Compile("p",
                   "include = [\"base\"]\n"
                   "allow = [{ syscall = \"socket\", when = \"family == AF_UNIX\" },\n"
                   "         { syscall = \"fcntl\", when = \"cmd == F_GETFL\" }]\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Verdict(*p, SYS_socket, {AF_INET, SOCK_STREAM, 0}), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(*p, SYS_socket, {AF_UNIX, SOCK_STREAM, 0}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(*p, SYS_fcntl, {0, F_SETFL, 0}), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(*p, SYS_fcntl, {0, F_GETFL, 0}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(*p, SYS_read, {}), SECCOMP_RET_ALLOW);
  // Within one file, a rule for a syscall narrows what its group gave.
  p = Compile("q", "allow = [\"@io-basic\", { syscall = \"fcntl\", when = \"cmd == F_GETFD\" }]\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Verdict(*p, SYS_fcntl, {0, F_SETFL, 0}), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(*p, SYS_fcntl, {0, F_GETFD, 0}), SECCOMP_RET_ALLOW);
}

TEST_F(ArgPolicyTest, MistakesInPolicyFilesHaveFileLineAndColumn) {
  dir_.Write("c.toml", "allow = [\n  { syscall = \"socket\", when = \"family == AF_UNIKS\" },\n]\n");
  EXPECT_PRED2(StartsWith, Err("c"), "c.toml:2:43: policy \"c\": allow: socket when \"family == AF_UNIKS\": unknown constant");
  dir_.Write("d.toml", "allow = [{ syscall = \"openat\", when = \"filename == 0\" }]\n");
  EXPECT_PRED2(StartsWith, Err("d"), "d.toml:1:40: policy \"d\": allow: openat when \"filename == 0\": argument 'filename' "
            "of openat");
  dir_.Write("e.toml", "allow = [{ syscall = \"socket\" }]\n");
  EXPECT_PRED2(StartsWith, Err("e"), "e.toml:1:10: policy \"e\": allow: socket: an argument rule needs `when = \"CONDITION\"`");
  dir_.Write("f.toml", "allow = [{ syscall = \"@network-io\", when = \"arg0 == 1\" }]\n");
  EXPECT_PRED2(StartsWith, Err("f"), "f.toml:1:22: policy \"f\": allow: syscall: argument rules are");
  dir_.Write("g.toml", "allow = [{ syscall = \"socket\", when = \"family == 1\", wen = 1 }]\n");
  EXPECT_PRED2(StartsWith, Err("g"), "g.toml:1:54: policy \"g\": allow: unknown key 'wen' (did you m");
  dir_.Write("h.toml",
             "allow = [\"socket\", { syscall = \"socket\", when = \"family == AF_UNIX\" }]\n");
  EXPECT_PRED2(StartsWith, Err("h"), "h.toml:1:49: policy \"h\": allow: 'socket' has rules for every call and argument rules "
            "in the same fil");
  dir_.Write("i.toml", "allow = [42]\n");
  EXPECT_PRED2(StartsWith, Err("i"), "i.toml:1:10: policy \"i\": allow: expected a syscall name, an");
  dir_.Write("j.toml", "[errno]\nsocket = { errno = \"EWHAT\", when = \"family == 2\" }\n");
  EXPECT_PRED2(StartsWith, Err("j"), "j.toml:2:20: policy \"j\": errno: socket: errno: '");
}

// Found by fuzz/fuzz_values.cc: a value of thousands of '(' recursed until
// the stack overflowed (hinetd, as root, loading a policy). Nesting is
// bounded, with an error at the '(' that goes too deep.
TEST(Condition, DeepParenthesesAreAnErrorNotACrash) {
  auto nested = [](int n) {
    return "arg0 == " + std::string(static_cast<size_t>(n), '(') + "1" +
           std::string(static_cast<size_t>(n), ')');
  };
  auto ok = ParseCondition("clone", nested(16));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ((*ok)[0].all[0].value, 1u);
  EXPECT_EQ(ParseErr("clone", nested(17)), "25: parentheses nested deeper than 16");
  EXPECT_EQ(ParseErr("clone", nested(100000)), "25: parentheses nested deeper than 16");
}

// The same run's review: "-9223372036854775808" negated INT64_MIN (undefined);
// a negative number is its two's complement, whatever its size.
TEST(Condition, NegativeNumbersAreTwosComplement) {
  auto min = ParseCondition("clone", "arg0 == -9223372036854775808");
  ASSERT_TRUE(min.ok()) << min.error().message();
  EXPECT_EQ((*min)[0].all[0].value, uint64_t{1} << 63);
  auto minus_one = ParseCondition("clone", "arg0 == -1");
  ASSERT_TRUE(minus_one.ok()) << minus_one.error().message();
  EXPECT_EQ((*minus_one)[0].all[0].value, ~uint64_t{0});
}

}  // namespace
}  // namespace hinetd
