// Policy files -> PolicySpec -> BPF, checked by running the compiled
// program in the user-space evaluator.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <sys/syscall.h>

#include "common/jail.h"
#include "config/policy_file.h"
#include "sandbox/bpf.h"
#include "sandbox/policy.h"

namespace hinetd {
namespace {

using sandbox::NativeAuditArch;
using sandbox::RunBpf;
using testing::TempDir;

class PolicyTest : public ::testing::Test {
 protected:
  base::Result<sandbox::PolicySpec> Load(const std::string& name) {
    config::PolicyLoader loader(dir_.path());
    return loader.Load(name, base::SourceLoc{"hinetd.toml", 1, 1});
  }
  std::string Err(const std::string& name) {
    auto r = Load(name);
    if (r.ok()) return "<loaded>";
    std::string e = r.error().ToString();
    std::string prefix = dir_.path() + "/";
    if (e.rfind(prefix, 0) == 0) e = e.substr(prefix.size());
    return e;
  }
  uint32_t Verdict(const sandbox::BpfProgram& p, int nr, uint32_t arch = NativeAuditArch()) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = arch;
    auto r = RunBpf(p.insns(), d);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? *r : 0;
  }
  TempDir dir_;
};

TEST_F(PolicyTest, CompiledFilterAllowsKillsAndFailsWithErrno) {
  dir_.Write("p.toml",
             "default_action = \"kill\"\nallow = [\"read\", \"@exit\"]\n"
             "errno = { socket = \"EACCES\", ptrace = 1 }\n");
  auto spec = Load("p");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto prog = sandbox::Compile(*spec);
  ASSERT_TRUE(prog.ok()) << prog.error().ToString();
  EXPECT_EQ(Verdict(**prog, SYS_read), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(**prog, SYS_exit_group), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(**prog, SYS_socket), SECCOMP_RET_ERRNO | EACCES);
  EXPECT_EQ(Verdict(**prog, SYS_ptrace), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Verdict(**prog, SYS_write), SECCOMP_RET_KILL_PROCESS);  // not listed
  EXPECT_EQ(Verdict(**prog, SYS_mount), SECCOMP_RET_KILL_PROCESS);
}

TEST_F(PolicyTest, ForeignArchitecturesAreKilled) {
  dir_.Write("p.toml", "allow = [\"read\", \"write\"]\n");
  auto prog = sandbox::Compile(*Load("p"));
  ASSERT_TRUE(prog.ok());
  // i386's read is 3; a 32-bit process must not reach the allow list.
  EXPECT_EQ(Verdict(**prog, 3, AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(**prog, SYS_read, AUDIT_ARCH_AARCH64), SECCOMP_RET_KILL_PROCESS);
#if defined(__x86_64__)
  // x32 uses the x86_64 arch value with bit 30 set in the syscall number.
  EXPECT_EQ(Verdict(**prog, SYS_read | 0x40000000), SECCOMP_RET_KILL_PROCESS);
#endif
}

TEST_F(PolicyTest, DefaultActionErrnoAndLog) {
  dir_.Write("e.toml", "default_action = \"errno:EPERM\"\nallow = [\"read\"]\n");
  dir_.Write("l.toml", "default_action = \"log\"\nallow = [\"read\"]\n");
  auto e = sandbox::Compile(*Load("e"));
  auto l = sandbox::Compile(*Load("l"));
  ASSERT_TRUE(e.ok() && l.ok());
  EXPECT_EQ(Verdict(**e, SYS_write), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Verdict(**l, SYS_write), SECCOMP_RET_LOG);
  EXPECT_EQ(Verdict(**l, SYS_read), SECCOMP_RET_ALLOW);
}

TEST_F(PolicyTest, IncludesAreMergedAndTheIncluderWins) {
  dir_.Write("base.toml", "allow = [\"read\", \"socket\"]\n");
  dir_.Write("top.toml", "include = [\"base\"]\nallow = [\"write\"]\nerrno = { socket = \"EACCES\" }\n");
  auto spec = Load("top");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  EXPECT_EQ(spec->files.size(), 2u);
  auto prog = sandbox::Compile(*spec);
  ASSERT_TRUE(prog.ok());
  EXPECT_EQ(Verdict(**prog, SYS_read), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(**prog, SYS_write), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(**prog, SYS_socket), SECCOMP_RET_ERRNO | EACCES);
}

TEST_F(PolicyTest, Errors) {
  dir_.Write("unknown_syscall.toml", "allow = [\"read\",\n  \"reed\"]\n");
  EXPECT_EQ(Err("unknown_syscall"),
            "unknown_syscall.toml:2:3: policy \"unknown_syscall\": allow: unknown system call 'reed' "
            "(did you mean 'read'?) (names are those of the kernel, e.g. \"openat\", "
            "\"newfstatat\"; see syscalls(2))");
  // Far from every name: no guess.
  dir_.Write("far.toml", "allow = [\"frobnicate_all\"]\n");
  EXPECT_EQ(Err("far").find("did you mean"), std::string::npos) << Err("far");
  dir_.Write("errno_typo.toml", "[errno]\nsokcet = \"EACCES\"\n");
  EXPECT_NE(Err("errno_typo").find("errno: unknown system call 'sokcet' (did you mean 'socket'?)"),
            std::string::npos)
      << Err("errno_typo");
  dir_.Write("group_typo.toml", "allow = [\"@file-raed\"]\n");
  EXPECT_NE(Err("group_typo").find("unknown syscall group '@file-raed' (did you mean "
                                   "'@file-read'?)"),
            std::string::npos)
      << Err("group_typo");
  dir_.Write("unknown_group.toml", "allow = [\"@nope\"]\n");
  EXPECT_EQ(Err("unknown_group").substr(0, 77),
            "unknown_group.toml:1:10: policy \"unknown_group\": allow: unknown syscall group");
  dir_.Write("a.toml", "include = [\"b\"]\n");
  dir_.Write("b.toml", "include = [\"a\"]\n");
  EXPECT_EQ(Err("a"), "b.toml:1:12: policy \"b\": include: policy include cycle: a -> b -> a");
  dir_.Write("missing_include.toml", "include = \"nothere\"\n");
  EXPECT_EQ(Err("missing_include").substr(0, 87),
            "missing_include.toml:1:11: policy \"missing_include\": include: no policy 'nothere' (no f");
  dir_.Write("twice.toml", "allow = [\"read\", \"read\"]\n");
  EXPECT_EQ(Err("twice"), "twice.toml:1:18: policy \"twice\": allow: 'read' is listed twice");
  dir_.Write("both.toml", "allow = [\"read\"]\nerrno = { read = \"EPERM\" }\n");
  EXPECT_EQ(Err("both"), "both.toml:2:11: policy \"both\": errno: read: 'read' is also in allow; list it in one "
                         "place only");
  dir_.Write("bad_errno.toml", "errno = { read = \"EWHAT\" }\n");
  EXPECT_EQ(Err("bad_errno"), "bad_errno.toml:1:18: policy \"bad_errno\": errno: read: 'EWHAT' is not an errno name "
                              "(e.g. \"EPERM\", \"EACCES\")");
  dir_.Write("allow_default.toml", "default_action = \"allow\"\n");
  EXPECT_EQ(Err("allow_default"),
            "allow_default.toml:1:18: policy \"allow_default\": default_action: \"allow\" is not a sandbox; a policy "
            "denies by default (use \"kill\", \"errno:NAME\", or \"log\" to only record)");
  dir_.Write("bad_action.toml", "default_action = \"deny\"\n");
  EXPECT_EQ(Err("bad_action"), "bad_action.toml:1:18: policy \"bad_action\": default_action: 'deny' is not an action "
                               "(expected \"kill\", \"log\" or \"errno:NAME\")");
  dir_.Write("typo.toml", "alow = [\"read\"]\n");
  EXPECT_EQ(Err("typo"), "typo.toml:1:1: policy \"typo\": unknown key 'alow' (did you mean 'allow'?)");
  dir_.Write("syntax.toml", "allow = [\n");
  EXPECT_EQ(Err("syntax").substr(0, 35), "syntax.toml:1:11: TOML syntax error");
  EXPECT_EQ(Err("nosuch").substr(0, 39), "hinetd.toml:1:1: no policy 'nosuch' (no");
}

TEST_F(PolicyTest, NameOnAnotherArchitectureIsValidButInert) {
  // socketcall exists on i386 only: accepted (policies stay portable), no rule.
  dir_.Write("p.toml", "allow = [\"socketcall\", \"read\"]\n");
  auto spec = Load("p");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto rules = sandbox::ExpandRules(*spec);
  ASSERT_TRUE(rules.ok());
#if defined(__x86_64__)
  EXPECT_EQ(rules->count("socketcall"), 0u);
#endif
  EXPECT_EQ(rules->count("read"), 1u);
}

TEST(Groups, NoGroupHoldsADangerousSyscall) {
  for (const auto& g : sandbox::GroupNames()) {
    for (const auto& name : *sandbox::FindGroup(g)) {
      EXPECT_FALSE(sandbox::IsDangerous(name)) << g << " holds " << name;
      EXPECT_TRUE(sandbox::IsKnownSyscall(name)) << g << " holds unknown " << name;
    }
  }
}

}  // namespace
}  // namespace hinetd
