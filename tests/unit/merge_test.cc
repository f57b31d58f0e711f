// One program for the children's layer and a service's policy
// (sandbox/merge.h): the same verdict as the two installed one after the
// other for every input tried (the kernel's rule: highest precedence, the
// later filter's on a tie), the same action cache (the kernel's emulation,
// written out below), refused shapes refused, and a program the kernel
// takes and enforces.
#include "sandbox/merge.h"

#include <dirent.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "common/jail.h"
#include "config/policy_file.h"
#include "sandbox/bpf.h"
#include "sandbox/daemon_filters.h"
#include "sandbox/policy.h"

namespace hinetd::sandbox {
namespace {

using Program = std::vector<sock_filter>;

uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | static_cast<uint32_t>(e); }

// The shipped policies (sandbox/), copied where the policy loader trusts
// them: it refuses a directory that a user could write above, as a
// checkout under /tmp is.
const std::string& ShippedDir() {
  static testing::TempDir dir;
  static bool copied = testing::CopyShippedPolicies(dir.path());
  EXPECT_TRUE(copied) << dir.path();
  return dir.path();
}

// Every policy shipped in sandbox/, compiled, by name.
std::vector<std::pair<std::string, std::unique_ptr<BpfProgram>>> ShippedPolicies() {
  std::vector<std::pair<std::string, std::unique_ptr<BpfProgram>>> out;
  std::string dir = ShippedDir();
  config::PolicyLoader loader(dir);
  DIR* d = opendir(dir.c_str());
  EXPECT_NE(d, nullptr) << dir;
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string file = e->d_name;
    if (file.size() < 6 || file.substr(file.size() - 5) != ".toml") continue;
    std::string name = file.substr(0, file.size() - 5);
    auto spec = loader.Load(name, base::SourceLoc{"test", 1, 1});
    EXPECT_TRUE(spec.ok()) << name << ": " << spec.error().message();
    if (!spec.ok()) continue;
    auto program = Compile(*spec);
    EXPECT_TRUE(program.ok()) << name << ": " << program.error().message();
    if (program.ok()) out.emplace_back(name, std::move(*program));
  }
  closedir(d);
  return out;
}

uint32_t Verdict(const Program& p, const seccomp_data& d) {
  auto r = RunBpf(p, d);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : 0;
}

// The kernel's emulation behind its action cache (kernel/seccomp.c,
// seccomp_is_const_allow): true if the program allows syscall `nr` of
// `arch` whatever the arguments. It gives up on any load but nr and arch,
// and on any instruction but these.
bool ConstAllow(const Program& p, uint32_t arch, uint32_t nr) {
  uint32_t a = 0;
  for (size_t pc = 0; pc < p.size();) {
    const sock_filter& in = p[pc++];
    switch (in.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (in.k == offsetof(seccomp_data, nr)) {
          a = nr;
        } else if (in.k == offsetof(seccomp_data, arch)) {
          a = arch;
        } else {
          return false;
        }
        break;
      case BPF_JMP | BPF_JA: pc += in.k; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += a == in.k ? in.jt : in.jf; break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += a >= in.k ? in.jt : in.jf; break;
      case BPF_JMP | BPF_JGT | BPF_K: pc += a > in.k ? in.jt : in.jf; break;
      case BPF_JMP | BPF_JSET | BPF_K: pc += (a & in.k) != 0 ? in.jt : in.jf; break;
      case BPF_ALU | BPF_AND | BPF_K: a &= in.k; break;
      case BPF_RET | BPF_K: return in.k == SECCOMP_RET_ALLOW;
      default: return false;
    }
  }
  return false;
}

// Inputs: every syscall number up to 1023 and the x32 range's start, the
// native and the i386 architectures, and arguments that cross the
// children's layer's clone() test (each namespace flag, with and without
// others) or are drawn at random.
std::vector<seccomp_data> Inputs() {
  std::vector<uint64_t> args = {0, ~0ULL, CLONE_VM | CLONE_FS | CLONE_FILES | SIGCHLD,
                                CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID | SIGCHLD,
                                CLONE_NEWNET | CLONE_VM, CLONE_NEWCGROUP, CLONE_NEWIPC,
                                CLONE_NEWUTS, CLONE_NEWTIME, 1ULL << 32};
  std::mt19937_64 random(20261207);
  for (int i = 0; i < 4; ++i) args.push_back(random());
  std::vector<seccomp_data> out;
  std::vector<uint32_t> numbers;
  for (uint32_t nr = 0; nr < 1024; ++nr) numbers.push_back(nr);
  for (uint32_t nr = 0x40000000; nr < 0x40000000 + 600; nr += 7) numbers.push_back(nr);
  numbers.push_back(~0U);
  for (uint32_t arch : {NativeAuditArch(), static_cast<uint32_t>(AUDIT_ARCH_I386)}) {
    for (uint32_t nr : numbers) {
      for (uint64_t v : args) {
        seccomp_data d{};
        d.nr = static_cast<int>(nr);
        d.arch = arch;
        d.args[0] = v;
        d.args[1] = v ^ 0x5555;
        d.args[2] = v;
        d.args[3] = ~v;
        d.args[4] = v;
        d.args[5] = 0;
        out.push_back(d);
      }
    }
  }
  return out;
}

void ExpectSameAsTheTwo(const Program& first, const Program& second, const Program& merged,
                        const std::string& what) {
  int wrong = 0;
  for (const seccomp_data& d : Inputs()) {
    uint32_t want = CombineVerdicts(Verdict(first, d), Verdict(second, d));
    uint32_t got = Verdict(merged, d);
    if (got != want && ++wrong <= 5) {
      ADD_FAILURE() << what << ": nr " << d.nr << " arch " << std::hex << d.arch << " arg0 "
                    << d.args[0] << ": merged " << got << ", the two " << want;
    }
  }
  EXPECT_EQ(wrong, 0) << what;
  for (uint32_t nr = 0; nr < 1024; ++nr) {
    uint32_t arch = NativeAuditArch();
    EXPECT_EQ(ConstAllow(merged, arch, nr), ConstAllow(first, arch, nr) && ConstAllow(second, arch, nr))
        << what << ": the action cache of syscall " << nr;
  }
}

TEST(MergeTest, TheKernelsRuleHighestPrecedenceAndTheLaterOnATie) {
  EXPECT_EQ(CombineVerdicts(SECCOMP_RET_ALLOW, Errno(EPERM)), Errno(EPERM));
  EXPECT_EQ(CombineVerdicts(Errno(EPERM), SECCOMP_RET_ALLOW), Errno(EPERM));
  EXPECT_EQ(CombineVerdicts(Errno(EPERM), SECCOMP_RET_KILL_PROCESS), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(CombineVerdicts(SECCOMP_RET_KILL_PROCESS, Errno(EPERM)), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(CombineVerdicts(SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP), SECCOMP_RET_KILL_THREAD);
  EXPECT_EQ(CombineVerdicts(SECCOMP_RET_LOG, SECCOMP_RET_ALLOW), SECCOMP_RET_LOG);
  EXPECT_EQ(CombineVerdicts(Errno(EPERM), Errno(ENOSYS)), Errno(ENOSYS));  // a tie: the later's data
}

TEST(MergeTest, EveryShippedPolicyMergesWithTheChildrensLayerAndDecidesAsTheTwo) {
  auto children = ChildrenFilter();
  ASSERT_TRUE(children.ok()) << children.error().message();
  auto policies = ShippedPolicies();
  ASSERT_GE(policies.size(), 5u);
  for (const auto& [name, policy] : policies) {
    auto merged = MergeFilters(**children, *policy);
    ASSERT_TRUE(merged.ok()) << name << ": " << merged.error().message();
    const Program& m = (*merged)->insns();
    // The policy and a few short slices of the layer: what the kernel
    // walks for each syscall (to JIT-compile it and to work out its action
    // cache) is about the policy's alone.
    EXPECT_LT(m.size(), policy->insns().size() + 48) << name;
    ExpectSameAsTheTwo((*children)->insns(), policy->insns(), m, name);
  }
}

// A policy that decides clone() and setns() by their arguments, with a
// verdict of every kind: the slices keep its argument checks and combine
// each verdict with the layer's.
TEST(MergeTest, APolicyThatLooksAtTheArgumentsOfWhatTheLayerRefuses) {
  auto children = ChildrenFilter();
  ASSERT_TRUE(children.ok()) << children.error().message();
  uint32_t arch = NativeAuditArch();
  auto ld = [](uint32_t k) { return sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, k}; };
  auto jeq = [](uint32_t k, uint8_t t, uint8_t f) {
    return sock_filter{BPF_JMP | BPF_JEQ | BPF_K, t, f, k};
  };
  auto ret = [](uint32_t k) { return sock_filter{BPF_RET | BPF_K, 0, 0, k}; };
  constexpr uint32_t kArg0Lo = offsetof(seccomp_data, args);
  Program policy = {
      ld(offsetof(seccomp_data, arch)),
      jeq(arch, 1, 0),
      ret(SECCOMP_RET_KILL_PROCESS),
      ld(offsetof(seccomp_data, nr)),
      sock_filter{BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000},  // x32, as libseccomp
      ret(SECCOMP_RET_KILL_PROCESS),
      jeq(SYS_clone, 0, 6),
      ld(kArg0Lo),
      sock_filter{BPF_ALU | BPF_AND | BPF_K, 0, 0, CLONE_NEWUSER},
      jeq(0, 0, 1),
      ret(SECCOMP_RET_ALLOW),     // clone without CLONE_NEWUSER
      ld(offsetof(seccomp_data, nr)),  // read again: folded in the slice
      ret(SECCOMP_RET_TRAP),      // clone with it
      jeq(SYS_setns, 0, 3),
      ld(kArg0Lo + 8),            // setns(fd, nstype): nstype; if not NEWNET,
                                  // the clone3 test below on it (an odd shape)
      jeq(CLONE_NEWNET, 0, 1),
      ret(Errno(EACCES)),
      jeq(SYS_clone3, 0, 1),
      ret(SECCOMP_RET_LOG),
      ret(SECCOMP_RET_ALLOW),
  };
  BpfProgram second(policy);
  auto merged = MergeFilters(**children, second);
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  ExpectSameAsTheTwo((*children)->insns(), policy, (*merged)->insns(), "argument policy");
  // Spot checks against the rule, not the interpreter of the two.
  seccomp_data d{};
  d.arch = arch;
  d.nr = SYS_clone;
  d.args[0] = CLONE_NEWUSER;
  EXPECT_EQ(Verdict((*merged)->insns(), d), SECCOMP_RET_TRAP);  // TRAP over the layer's EPERM
  d.args[0] = CLONE_NEWNET;
  EXPECT_EQ(Verdict((*merged)->insns(), d), Errno(EPERM));      // the layer's EPERM over ALLOW
  d.args[0] = SIGCHLD;
  EXPECT_EQ(Verdict((*merged)->insns(), d), SECCOMP_RET_ALLOW);
  d.nr = SYS_clone3;
  EXPECT_EQ(Verdict((*merged)->insns(), d), Errno(ENOSYS));     // the layer's ENOSYS over LOG
}

// Returns of the policy's that only syscalls the layer refuses outright
// reach: folded into one verdict each, no slice, no instruction more.
TEST(MergeTest, AReturnOnlyTheLayersRefusalsReachIsFolded) {
  auto children = ChildrenFilter();
  ASSERT_TRUE(children.ok()) << children.error().message();
  auto ld = [](uint32_t k) { return sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, k}; };
  auto jeq = [](uint32_t k, uint8_t t, uint8_t f) {
    return sock_filter{BPF_JMP | BPF_JEQ | BPF_K, t, f, k};
  };
  auto ret = [](uint32_t k) { return sock_filter{BPF_RET | BPF_K, 0, 0, k}; };
  Program policy = {
      ld(offsetof(seccomp_data, arch)),
      jeq(NativeAuditArch(), 1, 0),
      ret(SECCOMP_RET_KILL_PROCESS),
      ld(offsetof(seccomp_data, nr)),
      sock_filter{BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000},
      ret(SECCOMP_RET_KILL_PROCESS),
      jeq(SYS_clone3, 0, 1),
      ret(SECCOMP_RET_LOG),  // the layer's ENOSYS takes precedence
      jeq(SYS_setns, 0, 1),
      ret(SECCOMP_RET_ALLOW),  // the layer's EPERM
      ret(SECCOMP_RET_KILL_PROCESS),
  };
  auto merged = MergeFilters(**children, BpfProgram(policy));
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  const Program& m = (*merged)->insns();
  ASSERT_EQ(m.size(), policy.size());
  EXPECT_EQ(m[7].k, Errno(ENOSYS));
  EXPECT_EQ(m[9].k, Errno(EPERM));
  ExpectSameAsTheTwo((*children)->insns(), policy, m, "folded policy");

  // Allowing everything else (a default of allow or log, as in trial
  // mode) reaches that return for a range of numbers, clone's among them,
  // which the layer decides by its flags: a slice of the layer for clone,
  // the rest of the range the policy's verdict.
  policy.back() = ret(SECCOMP_RET_LOG);
  merged = MergeFilters(**children, BpfProgram(policy));
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  EXPECT_GT((*merged)->insns().size(), policy.size());
  ExpectSameAsTheTwo((*children)->insns(), policy, (*merged)->insns(), "log by default");
}

// Many argument rules on the call the layer decides by its arguments, some
// with a namespace flag the layer refuses: the merge is exact for the flags
// each rule names and their neighbours.
TEST(MergeTest, ManyArgumentRulesOnCloneMergeExactly) {
  auto children = ChildrenFilter();
  ASSERT_TRUE(children.ok()) << children.error().message();
  testing::TempDir dir;
  std::string rules;
  std::vector<uint64_t> flags;
  for (int i = 0; i < 24; ++i) {
    uint64_t f = SIGCHLD | (static_cast<uint64_t>(i) << 8) | (i % 3 == 0 ? CLONE_NEWUSER : 0) |
                 (i % 5 == 0 ? CLONE_NEWNET : 0);
    flags.push_back(f);
    rules += "  { syscall = \"clone\", when = \"clone_flags == " + std::to_string(f) + "\" },\n";
  }
  dir.Write("many.toml", "default_action = \"kill\"\nallow = [\n" + rules + "  \"@io-basic\",\n]\n");
  auto spec = config::PolicyLoader(dir.path()).Load("many", base::SourceLoc{"test", 1, 1});
  ASSERT_TRUE(spec.ok()) << spec.error().message();
  auto policy = Compile(*spec);
  ASSERT_TRUE(policy.ok()) << policy.error().message();
  auto merged = MergeFilters(**children, **policy);
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  ExpectSameAsTheTwo((*children)->insns(), (*policy)->insns(), (*merged)->insns(), "many rules");
  seccomp_data d{};
  d.arch = NativeAuditArch();
  d.nr = SYS_clone;
  for (uint64_t f : flags) {
    for (uint64_t v : {f, f ^ 1, f | CLONE_NEWNS}) {
      d.args[0] = v;
      EXPECT_EQ(Verdict((*merged)->insns(), d),
                CombineVerdicts(Verdict((*children)->insns(), d), Verdict((*policy)->insns(), d)))
          << std::hex << v;
    }
  }
}

TEST(MergeTest, ShapesItDoesNotHandleAreRefusedWithTheReason) {
  auto children = ChildrenFilter();
  ASSERT_TRUE(children.ok()) << children.error().message();
  auto ret = [](uint32_t k) { return sock_filter{BPF_RET | BPF_K, 0, 0, k}; };
  // The X register.
  BpfProgram x({sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, 0}, sock_filter{BPF_MISC | BPF_TAX, 0, 0, 0},
                ret(SECCOMP_RET_ALLOW)});
  auto r = MergeFilters(**children, x);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("instruction 1"), std::string::npos) << r.error().message();
  // A return of A.
  BpfProgram a({sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, 0}, sock_filter{BPF_RET | BPF_A, 0, 0, 0}});
  EXPECT_FALSE(MergeFilters(**children, a).ok());
  // A that is read before anything is loaded.
  BpfProgram unloaded({sock_filter{BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0}, ret(SECCOMP_RET_ALLOW),
                       ret(SECCOMP_RET_KILL_PROCESS)});
  EXPECT_FALSE(MergeFilters(**children, unloaded).ok());
  // A first program that refuses a range of syscall numbers the second
  // allows: nothing to dispatch on. (Were the second to kill them all, its
  // kill would be the verdict, and the merge the second alone.)
  BpfProgram range({sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, 0},
                    sock_filter{BPF_JMP | BPF_JGE | BPF_K, 0, 1, 300}, ret(Errno(EPERM)),
                    ret(SECCOMP_RET_ALLOW)});
  BpfProgram allows({sock_filter{BPF_LD | BPF_W | BPF_ABS, 0, 0, 0}, ret(SECCOMP_RET_ALLOW)});
  auto ranged = MergeFilters(range, allows);
  ASSERT_FALSE(ranged.ok());
  EXPECT_NE(ranged.error().message().find("range of syscall numbers"), std::string::npos)
      << ranged.error().message();
}

// The kernel takes the merged program and enforces both, in a child: the
// layer's refusals where the policy allows (default lets clone() through
// without a namespace flag and fails it with EPERM with one; setns is the
// layer's EPERM, the policy's kill taking precedence), the policy's kill
// of what it does not allow (stdio: socket()), and what both allow works.
std::unique_ptr<BpfProgram> MergedWith(const std::string& policy_name) {
  auto children = ChildrenFilter();
  EXPECT_TRUE(children.ok()) << children.error().message();
  auto spec = config::PolicyLoader(ShippedDir()).Load(policy_name, base::SourceLoc{"test", 1, 1});
  EXPECT_TRUE(spec.ok()) << spec.error().message();
  if (!children.ok() || !spec.ok()) return nullptr;
  auto policy = Compile(*spec);
  EXPECT_TRUE(policy.ok()) << policy.error().message();
  if (!policy.ok()) return nullptr;
  auto merged = MergeFilters(**children, **policy);
  EXPECT_TRUE(merged.ok()) << merged.error().message();
  return merged.ok() ? std::move(*merged) : nullptr;
}

// Runs `body` in a child under `program`; its wait status.
template <typename Body>
int UnderFilter(const BpfProgram& program, Body body) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, program.fprog()) != 0) _exit(101);
    _exit(body());
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

TEST(MergeTest, TheKernelEnforcesTheMergedProgram) {
  auto with_default = MergedWith("default");
  auto with_stdio = MergedWith("stdio");
  ASSERT_TRUE(with_default && with_stdio);
  int status = UnderFilter(*with_default, [] {
    if (syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) != -1 || errno != EPERM) return 1;
    if (syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) return 2;
    pid_t child = fork();  // clone without a namespace flag: allowed by both
    if (child < 0) return 3;
    if (child == 0) _exit(7);
    int s = 0;
    if (waitpid(child, &s, 0) != child || !WIFEXITED(s) || WEXITSTATUS(s) != 7) return 4;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  status = UnderFilter(*with_default, [] {
    syscall(SYS_setns, -1, 0);  // the layer's EPERM, default's kill: killed
    return 0;
  });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << "status " << status;
  status = UnderFilter(*with_stdio, [] {
    if (write(-1, "", 0) != -1 || errno != EBADF) return 1;  // allowed: it ran
    syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    return 0;
  });
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) << "status " << status;
}

}  // namespace
}  // namespace hinetd::sandbox
