// `hinetd learn` without running anything: the recording and trial
// programs (run in the user-space BPF interpreter), the policy writer, and
// the trial log lines --from-log reads.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sched.h>
#include <signal.h>

#include "common/jail.h"
#include "config/policy_file.h"
#include "sandbox/bpf.h"
#include "sandbox/daemon_filters.h"
#include "sandbox/learned.h"
#include "sandbox/policy.h"
#include "sandbox/recording.h"

namespace hinetd {
namespace {

using sandbox::Handoff;
using sandbox::NativeAuditArch;
using sandbox::RunBpf;
using testing::TempDir;

constexpr int kSocket = 9;
constexpr uint64_t kReturn = 0x00007f1234567890ULL;

uint32_t Verdict(const sandbox::BpfProgram& p, int nr, uint64_t arg0, uint64_t ip,
                 uint32_t arch = NativeAuditArch()) {
  seccomp_data d{};
  d.nr = nr;
  d.arch = arch;
  d.instruction_pointer = ip;
  d.args[0] = arg0;
  auto r = RunBpf(p.insns(), d);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : 0;
}

TEST(RecordingProgram, AllowsExactlyTheHandoffAndNotifiesEverythingElse) {
  auto p = sandbox::RecordingProgram(Handoff{kSocket, kReturn});
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  const auto& prog = **p;
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket, kReturn), SECCOMP_RET_ALLOW);
  // Any one thing different, and it is notified like every other call.
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket, kReturn + 2), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket, kReturn ^ (1ULL << 40)), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket + 1, kReturn), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket | (1ULL << 32), kReturn), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_sendto, kSocket, kReturn), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_write, kSocket, kReturn), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_read, 0, 0), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_mount, 0, 0), SECCOMP_RET_USER_NOTIF);
  // Another architecture is killed, even at the handoff's place.
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket, kReturn, AUDIT_ARCH_I386),
            SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(Verdict(prog, 3, 0, 0, AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
}

TEST(RecordingProgram, PrefixFallsThroughWhereItDoesNotMatch) {
  // The prefix alone, followed by one "return errno 1": every path that is
  // not the handoff must reach it.
  auto insns = sandbox::HandoffPrefix(Handoff{kSocket, kReturn});
  insns.push_back(sock_filter{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | 1});
  auto run = [&](int nr, uint64_t arg0, uint64_t ip, uint32_t arch) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = arch;
    d.instruction_pointer = ip;
    d.args[0] = arg0;
    auto r = RunBpf(insns, d);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : 0;
  };
  uint32_t native = NativeAuditArch();
  EXPECT_EQ(run(SYS_sendmsg, kSocket, kReturn, native), SECCOMP_RET_ALLOW);
  EXPECT_EQ(run(SYS_sendmsg, kSocket, kReturn, AUDIT_ARCH_I386), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(run(SYS_recvmsg, kSocket, kReturn, native), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(run(SYS_sendmsg, 3, kReturn, native), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(run(SYS_sendmsg, kSocket, kReturn - 1, native), SECCOMP_RET_ERRNO | 1);
  EXPECT_EQ(run(SYS_sendmsg, kSocket, kReturn & 0xffffffffULL, native), SECCOMP_RET_ERRNO | 1);
}

class TrialTest : public ::testing::Test {
 protected:
  base::Result<sandbox::PolicySpec> Load(const std::string& name) {
    config::PolicyLoader loader(dir_.path());
    return loader.Load(name, base::SourceLoc{"hinetd.toml", 1, 1});
  }
  TempDir dir_;
};

TEST_F(TrialTest, PolicyAllowsWithoutRoundTripAndNotifiesTheRest) {
  dir_.Write("t.toml",
             "default_action = \"log\"\n"
             "allow = [\"read\", { syscall = \"socket\", when = \"family == AF_UNIX\" }]\n"
             "errno = { ptrace = \"EPERM\" }\n");
  auto spec = Load("t");
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto policy = sandbox::Compile(*spec);
  ASSERT_TRUE(policy.ok()) << policy.error().ToString();
  auto p = sandbox::TrialProgram(**policy, Handoff{kSocket, kReturn});
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  const auto& prog = **p;
  EXPECT_EQ(Verdict(prog, SYS_read, 0, 0), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(prog, SYS_socket, AF_UNIX, 0), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(prog, SYS_socket, AF_INET, 0), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_write, 1, 0), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, SYS_ptrace, 0, 0), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket, kReturn), SECCOMP_RET_ALLOW);
  EXPECT_EQ(Verdict(prog, SYS_sendmsg, kSocket, 0), SECCOMP_RET_USER_NOTIF);
  EXPECT_EQ(Verdict(prog, 3, 0, 0, AUDIT_ARCH_I386), SECCOMP_RET_KILL_PROCESS);
  // Nothing returns "log" any more.
  for (const auto& insn : prog.insns()) {
    EXPECT_FALSE(insn.code == (BPF_RET | BPF_K) && insn.k == SECCOMP_RET_LOG);
  }
}

TEST_F(TrialTest, APolicyThatKillsHasNoTrialProgram) {
  dir_.Write("k.toml", "default_action = \"kill\"\nallow = [\"read\"]\n");
  auto policy = sandbox::Compile(*Load("k"));
  ASSERT_TRUE(policy.ok());
  EXPECT_FALSE(sandbox::TrialProgram(**policy, Handoff{kSocket, kReturn}).ok());
}

// Observations of a small service, as the recorder makes them.
sandbox::Observations Sample() {
  sandbox::Observations obs;
  auto call = [&](const std::string& name, std::vector<uint64_t> regs, int times = 1) {
    regs.resize(6, 0);
    for (int i = 0; i < times; ++i) {
      sandbox::Observe(obs, name, sandbox::ValuesThatMatter(name, regs.data()));
    }
  };
  call("read", {0}, 5);
  call("write", {1}, 7);
  for (const char* n : {"exit", "exit_group"}) call(n, {0});
  for (const char* n : {"wait4", "waitid", "setpgid", "setsid"}) call(n, {0});
  call("waitpid", {0});  // not on x86_64: a member that does not exist is not needed
  call("getrandom", {0}, 2);
  // An int argument's upper half is garbage the kernel ignores.
  call("socket", {0xdead00000000ULL | AF_UNIX, SOCK_STREAM}, 3);
  call("socket", {AF_INET, SOCK_DGRAM});
  call("ioctl", {0, TCGETS}, 4);
  call("mprotect", {0, 4096, PROT_READ});
  call("mprotect", {0, 4096, PROT_READ | PROT_WRITE});
  for (uint64_t cmd = 0x1000; cmd < 0x1000 + sandbox::kMaxRuleValues + 1; ++cmd) {
    call("prctl", {cmd});
  }
  return obs;
}

sandbox::WriterInput Input() {
  sandbox::WriterInput in;
  in.service = "demo";
  in.header = {"a header line"};
  in.runtime = {"read", "exit_group", "exit"};
  return in;
}

TEST(LearnedPolicy, WritesGroupsRulesCountsAndReviewMarks) {
  std::string text = sandbox::WriteLearnedPolicy(Sample(), Input());
  SCOPED_TRACE(text);
  EXPECT_NE(text.find("# a header line\n"), std::string::npos);
  EXPECT_NE(text.find("default_action = \"kill\"\ninclude = [\"runtime\"]\n"), std::string::npos);
  // In runtime: not repeated.
  EXPECT_EQ(text.find("\"read\""), std::string::npos);
  EXPECT_EQ(text.find("\"@exit\""), std::string::npos);  // adds nothing beyond runtime
  // A group every (native) member of which was used.
  EXPECT_NE(text.find("\n  \"@process-wait\",\n"), std::string::npos);
  EXPECT_EQ(text.find("\n  \"wait4\",\n"), std::string::npos);
  EXPECT_NE(text.find("  # write: seen 7 times\n  \"write\",\n"), std::string::npos);
  EXPECT_NE(text.find("  # getrandom: seen 2 times\n  \"getrandom\",\n"), std::string::npos);
  // Enumerations: one == per value (the upper half dropped); flags: the
  // danger bit no call had.
  EXPECT_NE(text.find("{ syscall = \"socket\", when = [\"family == AF_UNIX\", "
                      "\"family == AF_INET\"] },"),
            std::string::npos);
  EXPECT_NE(text.find("family=AF_UNIX 3, family=AF_INET 1"), std::string::npos);
  EXPECT_NE(text.find("{ syscall = \"ioctl\", when = \"cmd == TCGETS\" },"), std::string::npos);
  EXPECT_NE(text.find("{ syscall = \"mprotect\", when = \"prot & PROT_EXEC == 0\" },"),
            std::string::npos);
  // Too many values for a rule: whole, and said why.
  EXPECT_NE(text.find("\n  \"prctl\",\n"), std::string::npos);
  EXPECT_NE(text.find("(9 distinct values (more than 8))"), std::string::npos);
  // Dangerous ones are marked.
  EXPECT_NE(text.find("# REVIEW: socket "), std::string::npos);
  EXPECT_NE(text.find("# REVIEW: prctl "), std::string::npos);
  EXPECT_EQ(text.find("# REVIEW: getrandom"), std::string::npos);

  auto allows = sandbox::LearnedAllows(Sample(), Input());
  EXPECT_TRUE(allows.at("socket"));
  EXPECT_FALSE(allows.at("prctl"));
  EXPECT_EQ(allows.count("read"), 0u);
}

TEST(LearnedPolicy, KillOfItsOwnProcessGroupIsARuleAnyOtherPidIsNot) {
  sandbox::Observations obs;
  for (int i = 0; i < 3; ++i) sandbox::Observe(obs, "kill", {0});
  std::string text = sandbox::WriteLearnedPolicy(obs, Input());
  EXPECT_NE(text.find("  # REVIEW: kill "), std::string::npos) << text;
  EXPECT_NE(text.find("  # kill: seen 3 times; pid=0 3\n"
                      "  { syscall = \"kill\", when = \"pid == 0\" },\n"),
            std::string::npos)
      << text;
  // -1 (every process it may signal) is a value too; the upper half of an
  // int is dropped.
  uint64_t regs[6] = {0xffffffffffffffffULL, SIGTERM, 0, 0, 0, 0};
  EXPECT_EQ(sandbox::ValuesThatMatter("kill", regs), std::vector<uint64_t>{0xffffffffULL});
  sandbox::Observe(obs, "kill", sandbox::ValuesThatMatter("kill", regs));
  text = sandbox::WriteLearnedPolicy(obs, Input());
  EXPECT_NE(text.find("{ syscall = \"kill\", when = [\"pid == 0\", \"pid == -1\"] },"),
            std::string::npos)
      << text;
  // A process by its id: not the same in the next run.
  sandbox::Observe(obs, "kill", {4242});
  text = sandbox::WriteLearnedPolicy(obs, Input());
  EXPECT_NE(text.find("  # (pid=4242 names a process by its id, which differs from run to run: "
                      "no rule)\n  \"kill\",\n"),
            std::string::npos)
      << text;
  // Trial lines tell 0 and -1 apart, and every other id is one line.
  EXPECT_EQ(sandbox::TrialKey("kill", {4242}), sandbox::TrialKey("kill", {4343}));
  EXPECT_NE(sandbox::TrialKey("kill", {0}), sandbox::TrialKey("kill", {4242}));
  EXPECT_NE(sandbox::TrialKey("kill", {0}), sandbox::TrialKey("kill", {0xffffffffULL}));
  EXPECT_EQ(sandbox::TrialKey("socket", {AF_INET}), std::vector<uint64_t>{AF_INET});
  // And a trial line of kill (its pid prefixed, as the line has a pid of
  // its own) folds back into the same values.
  auto line = sandbox::ParseTrialLine(
      "event=policy-trial service=s pid=7 syscall=kill arg_pid=0 raw=0x0");
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->values, std::vector<uint64_t>{0});
  EXPECT_EQ(sandbox::DescribeValues("kill", {0xffffffffULL}),
            (std::vector<std::pair<std::string, std::string>>{{"pid", "-1"}}));
}

TEST(LearnedPolicy, TooManyDistinctValuesAreCappedAndAllowedWhole) {
  sandbox::Observations obs;
  for (uint64_t v = 0; v < sandbox::kMaxDistinctValues + 10; ++v) {
    uint64_t regs[6] = {0, 0x5400 + v, 0, 0, 0, 0};
    sandbox::Observe(obs, "ioctl", sandbox::ValuesThatMatter("ioctl", regs));
  }
  EXPECT_EQ(obs.at("ioctl").values.size(), sandbox::kMaxDistinctValues);
  EXPECT_TRUE(obs.at("ioctl").too_varied);
  EXPECT_EQ(obs.at("ioctl").count, sandbox::kMaxDistinctValues + 10);
  std::string text = sandbox::WriteLearnedPolicy(obs, Input());
  EXPECT_NE(text.find("\n  \"ioctl\",\n"), std::string::npos) << text;
}

TEST(LearnedPolicy, ObserveSaysWhatIsNew) {
  sandbox::Observations obs;
  EXPECT_TRUE(sandbox::Observe(obs, "read", {}));
  EXPECT_FALSE(sandbox::Observe(obs, "read", {}));
  EXPECT_TRUE(sandbox::Observe(obs, "socket", {AF_UNIX}));
  EXPECT_FALSE(sandbox::Observe(obs, "socket", {AF_UNIX}));
  EXPECT_TRUE(sandbox::Observe(obs, "socket", {AF_INET}));
  EXPECT_EQ(obs.at("socket").count, 3u);
}

class LearnedLoadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing::CopyShippedPolicies(dir_.path())); }
  TempDir dir_;
};

TEST_F(LearnedLoadTest, TheWrittenPolicyLoadsAndCompilesAndDoesWhatItSays) {
  config::PolicyLoader runtime_loader(dir_.path());
  auto runtime = runtime_loader.Load("runtime", base::SourceLoc{"hinetd.toml", 1, 1});
  ASSERT_TRUE(runtime.ok()) << runtime.error().ToString();
  auto in = Input();
  in.runtime.clear();
  auto expanded = sandbox::ExpandRules(*runtime);
  ASSERT_TRUE(expanded.ok());
  for (const auto& [name, rules] : *expanded) {
    if (rules.AllowsSome()) in.runtime.insert(name);
  }
  dir_.Write("learned.toml", sandbox::WriteLearnedPolicy(Sample(), in));
  config::PolicyLoader loader(dir_.path());
  auto spec = loader.Load("learned", base::SourceLoc{"hinetd.toml", 1, 1});
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto prog = sandbox::Compile(*spec);
  ASSERT_TRUE(prog.ok()) << prog.error().ToString();
  auto verdict = [&](int nr, uint64_t a0, uint64_t a1 = 0, uint64_t a2 = 0) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = NativeAuditArch();
    d.args[0] = a0;
    d.args[1] = a1;
    d.args[2] = a2;
    auto r = RunBpf((*prog)->insns(), d);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : 0;
  };
  EXPECT_EQ(verdict(SYS_write, 1), SECCOMP_RET_ALLOW);
  EXPECT_EQ(verdict(SYS_wait4, 0), SECCOMP_RET_ALLOW);  // through @process-wait
  EXPECT_EQ(verdict(SYS_socket, AF_UNIX), SECCOMP_RET_ALLOW);
  EXPECT_EQ(verdict(SYS_socket, AF_INET6), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(verdict(SYS_ioctl, 0, TCGETS), SECCOMP_RET_ALLOW);
  EXPECT_EQ(verdict(SYS_ioctl, 0, TIOCSTI), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(verdict(SYS_connect, 0), SECCOMP_RET_KILL_PROCESS);  // never seen
}

// The shipped runtime as `hinetd learn` reads it: what it allows, and its
// program, which tells the calls it allows from those it does not.
struct Runtime {
  sandbox::WriterInput in;
  std::unique_ptr<sandbox::BpfProgram> program;
};

Runtime LoadRuntime(const std::string& dir) {
  Runtime r;
  config::PolicyLoader loader(dir);
  auto spec = loader.Load("runtime", base::SourceLoc{"hinetd.toml", 1, 1});
  EXPECT_TRUE(spec.ok()) << spec.error().ToString();
  if (!spec.ok()) return r;
  auto expanded = sandbox::ExpandRules(*spec);
  EXPECT_TRUE(expanded.ok());
  auto program = sandbox::Compile(*spec);
  EXPECT_TRUE(program.ok());
  if (!expanded.ok() || !program.ok()) return r;
  r.in = Input();
  sandbox::SetRuntime(r.in, *expanded);
  r.program = std::move(*program);
  return r;
}

seccomp_data CallData(const std::string& name, std::vector<uint64_t> args) {
  seccomp_data d{};
  d.nr = sandbox::NativeSyscallNumber(name);
  d.arch = NativeAuditArch();
  for (size_t i = 0; i < args.size() && i < 6; ++i) d.args[i] = args[i];
  return d;
}

// As the recorder observes a call.
void Record(sandbox::Observations& obs, const Runtime& rt, const std::string& name,
            std::vector<uint64_t> args) {
  args.resize(6, 0);
  seccomp_data d = CallData(name, args);
  sandbox::Observe(obs, name, sandbox::ValuesThatMatter(name, args.data()), 1,
                   !sandbox::RuntimeAllows(*rt.program, d));
}

uint32_t RunOn(const sandbox::BpfProgram& p, const std::string& name, std::vector<uint64_t> args) {
  auto r = RunBpf(p.insns(), CallData(name, std::move(args)));
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : 0;
}

TEST_F(LearnedLoadTest, ADangerBitSeenMeansNoFlagRule) {
  // With the real runtime: it allows mprotect, mmap and prlimit64 for some
  // arguments only. Calls beyond them go into the learned policy, marked;
  // calls within them leave runtime's rules as they are.
  Runtime rt = LoadRuntime(dir_.path());
  ASSERT_TRUE(rt.program);
  ASSERT_EQ(rt.in.runtime.count("mprotect"), 1u);
  sandbox::Observations obs;
  Record(obs, rt, "mprotect", {0, 4096, PROT_READ});
  Record(obs, rt, "mprotect", {0, 4096, PROT_READ | PROT_EXEC});
  Record(obs, rt, "mmap", {0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS});
  Record(obs, rt, "prlimit64", {0, RLIMIT_NOFILE, 0, 0});
  Record(obs, rt, "prlimit64", {4242, RLIMIT_NOFILE, 0, 0});
  Record(obs, rt, "brk", {0});
  EXPECT_EQ(obs.at("mprotect").beyond_runtime, 1u);
  EXPECT_EQ(obs.at("mmap").beyond_runtime, 0u);
  EXPECT_EQ(obs.at("prlimit64").beyond_runtime, 1u);
  std::string text = sandbox::WriteLearnedPolicy(obs, rt.in);
  SCOPED_TRACE(text);
  EXPECT_NE(text.find("  # REVIEW: mprotect reaches"), std::string::npos);
  EXPECT_NE(text.find("  # mprotect: seen 2 times, 1 of them beyond what runtime allows; "),
            std::string::npos);
  EXPECT_NE(text.find("\n  \"mprotect\",\n"), std::string::npos);
  EXPECT_NE(text.find("  # REVIEW: prlimit64 reaches"), std::string::npos);
  EXPECT_NE(text.find("\n  \"prlimit64\",\n"), std::string::npos);
  // Within runtime's rules: not listed.
  EXPECT_EQ(text.find("mmap"), std::string::npos);
  EXPECT_EQ(text.find("\"brk\""), std::string::npos);
  auto allows = sandbox::LearnedAllows(obs, rt.in);
  EXPECT_EQ(allows.count("mprotect"), 1u);
  EXPECT_EQ(allows.count("mmap"), 0u);

  dir_.Write("learned.toml", text);
  config::PolicyLoader loader(dir_.path());
  auto spec = loader.Load("learned", base::SourceLoc{"hinetd.toml", 1, 1});
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto prog = sandbox::Compile(*spec);
  ASSERT_TRUE(prog.ok()) << prog.error().ToString();
  // What was seen runs as it did while learning.
  EXPECT_EQ(RunOn(**prog, "mprotect", {0, 4096, PROT_READ | PROT_EXEC}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(RunOn(**prog, "prlimit64", {4242, RLIMIT_NOFILE}), SECCOMP_RET_ALLOW);
  // runtime's rules stand for mmap: writable executable memory fails.
  EXPECT_EQ(RunOn(**prog, "mmap", {0, 4096, PROT_READ | PROT_WRITE}), SECCOMP_RET_ALLOW);
  EXPECT_EQ(RunOn(**prog, "mmap", {0, 4096, PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS}),
            SECCOMP_RET_ERRNO | EACCES);
}

TEST_F(LearnedLoadTest, TheBaseLayersRefusalsFailWithTheirErrnoAsWhileLearning) {
  // The base layers refuse these before any policy (learning cannot see
  // them); a learned policy gives each its errno instead of the default
  // kill, which would outrank the base layer's errno.
  Runtime rt = LoadRuntime(dir_.path());
  ASSERT_TRUE(rt.program);
  sandbox::Observations obs;
  Record(obs, rt, "clone", {SIGCHLD});  // fork()
  Record(obs, rt, "write", {1});
  std::string text = sandbox::WriteLearnedPolicy(obs, rt.in);
  SCOPED_TRACE(text);
  EXPECT_NE(text.find("\n[errno]\n# hinetd's base layers"), std::string::npos);
  EXPECT_NE(text.find("\nunshare = \"EPERM\"\n"), std::string::npos);
  EXPECT_NE(text.find("\npersonality = \"EPERM\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nclone3 = \"ENOSYS\"\n"), std::string::npos);
  EXPECT_NE(text.find("\nclone = { errno = \"EPERM\", when = \"clone_flags & ("),
            std::string::npos);
  dir_.Write("learned.toml", text);
  config::PolicyLoader loader(dir_.path());
  auto spec = loader.Load("learned", base::SourceLoc{"hinetd.toml", 1, 1});
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto prog = sandbox::Compile(*spec);
  ASSERT_TRUE(prog.ok()) << prog.error().ToString();
  for (const auto& r : sandbox::BaseLayerRefusals()) {
    if (!r.when.empty()) continue;
    EXPECT_EQ(RunOn(**prog, r.syscall, {}), SECCOMP_RET_ERRNO | static_cast<uint32_t>(r.err))
        << r.syscall;
  }
  EXPECT_EQ(RunOn(**prog, "clone", {SIGCHLD}), SECCOMP_RET_ALLOW);
  for (uint64_t ns : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID}) {
    EXPECT_EQ(RunOn(**prog, "clone", {SIGCHLD | ns}), SECCOMP_RET_ERRNO | EPERM) << ns;
  }
  // Flags without a namespace: clone's learned rule (no danger bit).
  EXPECT_EQ(RunOn(**prog, "clone", {CLONE_VM | SIGCHLD}), SECCOMP_RET_ALLOW);
  // Not seen, not refused by the base layers: still the default.
  EXPECT_EQ(RunOn(**prog, "chdir", {}), SECCOMP_RET_KILL_PROCESS);

  // A syscall of them the learned policy allows whole (from a current
  // policy, with --from-log) is left to the base layer: no entry.
  obs["unshare"].from_policy = true;
  text = sandbox::WriteLearnedPolicy(obs, rt.in);
  EXPECT_EQ(text.find("unshare = "), std::string::npos) << text;
}

TEST_F(LearnedLoadTest, FoldingKeepsThePolicysRulesAndErrnoTableAndExtendsThem) {
  // As `learn --from-log` fills them: the current policy's entries, then
  // the trial lines' calls.
  sandbox::Observations obs;
  obs["getrandom"].from_policy = true;
  obs["socket"].from_policy = true;
  obs["socket"].policy_when = {"family == AF_UNIX"};
  obs["ioctl"].from_policy = true;
  obs["ioctl"].policy_when = {"cmd == TCGETS"};
  sandbox::Observe(obs, "socket", {AF_INET});
  sandbox::Observe(obs, "getdents64", {});
  auto in = Input();
  in.runtime.clear();
  in.errno_table = {{"ptrace", "EPERM"}, {"getdents64", "ENOSYS"}};
  std::string text = sandbox::WriteLearnedPolicy(obs, in);
  SCOPED_TRACE(text);
  EXPECT_NE(text.find("{ syscall = \"socket\", when = [\"family == AF_UNIX\", "
                      "\"family == AF_INET\"] },"),
            std::string::npos);
  EXPECT_NE(text.find("{ syscall = \"ioctl\", when = \"cmd == TCGETS\" },"), std::string::npos);
  EXPECT_NE(text.find("# getrandom: from the current policy\n  \"getrandom\","),
            std::string::npos);
  EXPECT_NE(text.find("# socket: from the current policy; seen 1 time in the log"),
            std::string::npos);
  // getdents64 was seen, and is allowed now: not in the errno table too.
  EXPECT_NE(text.find("\n[errno]\n# From the current policy, as it was.\nptrace = \"EPERM\"\n"),
            std::string::npos);
  EXPECT_EQ(text.find("getdents64 = "), std::string::npos);
  // Kept as it was, not once more for the base layers.
  EXPECT_EQ(text.find("ptrace = "), text.rfind("ptrace = "));
  dir_.Write("folded.toml", text);
  config::PolicyLoader loader(dir_.path());
  auto spec = loader.Load("folded", base::SourceLoc{"hinetd.toml", 1, 1});
  ASSERT_TRUE(spec.ok()) << spec.error().ToString();
  auto prog = sandbox::Compile(*spec);
  ASSERT_TRUE(prog.ok()) << prog.error().ToString();
  seccomp_data d{};
  d.arch = NativeAuditArch();
  d.nr = SYS_ptrace;
  EXPECT_EQ(*RunBpf((*prog)->insns(), d), SECCOMP_RET_ERRNO | EPERM);
  d.nr = SYS_socket;
  d.args[0] = AF_INET;
  EXPECT_EQ(*RunBpf((*prog)->insns(), d), SECCOMP_RET_ALLOW);
  d.args[0] = AF_NETLINK;
  EXPECT_EQ(*RunBpf((*prog)->insns(), d), SECCOMP_RET_KILL_PROCESS);
}

TEST(TrialLine, ParsesTheMonitorsLine) {
  auto r = sandbox::ParseTrialLine(
      "Dec  4 10:00:00 host hinetd[12]: event=policy-trial service=echo pid=42 syscall=socket "
      "family=AF_INET raw=0x2");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->service, "echo");
  EXPECT_EQ(r->syscall, "socket");
  EXPECT_EQ(r->values, std::vector<uint64_t>{2});
  auto plain = sandbox::ParseTrialLine("event=policy-trial service=\"a b\" pid=1 syscall=getrandom");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->service, "a b");
  EXPECT_TRUE(plain->values.empty());
}

TEST(TrialLine, OtherLinesAreNotTrialLinesAndBrokenOnesSayWhy) {
  std::string error;
  EXPECT_FALSE(sandbox::ParseTrialLine("event=accept service=echo pid=3", &error).has_value());
  EXPECT_EQ(error, "");
  EXPECT_FALSE(sandbox::ParseTrialLine(
                   "event=policy-trial service=echo pid=1 syscall=socket family=AF_INET", &error)
                   .has_value());
  EXPECT_NE(error.find("needs 1 values in raw="), std::string::npos) << error;
  EXPECT_FALSE(sandbox::ParseTrialLine(
                   "event=policy-trial service=echo pid=1 syscall=socket raw=0xzz", &error)
                   .has_value());
  EXPECT_NE(error.find("not a number"), std::string::npos) << error;
  EXPECT_FALSE(sandbox::ParseTrialLine("event=policy-trial service=echo syscall=nosuchcall",
                                       &error)
                   .has_value());
  EXPECT_NE(error.find("unknown system call"), std::string::npos) << error;
}

}  // namespace
}  // namespace hinetd
