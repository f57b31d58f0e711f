// Argument rules as the kernel enforces them: a child process installs a
// compiled policy (the shipped `default`, or a test policy) and makes the
// calls an attacker in a compromised service would make. Each call runs in
// its own child; the verdict is its exit: the errno it got, or SIGSYS.
#include <gtest/gtest.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common/jail.h"
#include "common/test_env.h"
#include "config/policy_file.h"
#include "sandbox/policy.h"

namespace hinetd {
namespace {

constexpr int kKilled = -1000;  // the child died of SIGSYS

class ArgRulesKernelTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::CopyShippedPolicies(dir_.path()); }

  std::unique_ptr<sandbox::BpfProgram> Load(const std::string& name) {
    config::PolicyLoader loader(dir_.path());
    auto spec = loader.Load(name, base::SourceLoc{"test", 1, 1});
    EXPECT_TRUE(spec.ok()) << spec.error().ToString();
    if (!spec.ok()) return nullptr;
    auto prog = sandbox::Compile(*spec);
    EXPECT_TRUE(prog.ok()) << prog.error().ToString();
    return prog.ok() ? std::move(*prog) : nullptr;
  }

  // Runs `call` (raw syscalls only) under `program` in a fresh child:
  // returns 0 on success, the errno, or kKilled.
  int Run(const sandbox::BpfProgram& program, const std::function<long()>& call) {
    pid_t pid = fork();
    if (pid == 0) {
      if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(200);
      if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, program.fprog()) != 0) _exit(201);
      long rc = call();
      syscall(SYS_exit_group, rc < 0 ? (errno > 0 && errno < 200 ? errno : 199) : 0);
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGSYS ? kKilled : -WTERMSIG(status);
    EXPECT_LT(WEXITSTATUS(status), 200) << "the child could not install the filter";
    return WEXITSTATUS(status);
  }

  testing::TempDir dir_;
};

long RawClone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
  if (pid == 0) syscall(SYS_exit_group, 0);  // the new child, if any
  if (pid > 0) waitpid(static_cast<pid_t>(pid), nullptr, __WALL);
  return pid < 0 ? -1 : 0;
}

TEST_F(ArgRulesKernelTest, DefaultForksButNeverIntoANamespace) {
  auto p = Load("default");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Run(*p, [] { return RawClone(SIGCHLD); }), 0);
  EXPECT_EQ(Run(*p, [] { return RawClone(CLONE_NEWUSER | SIGCHLD); }), EPERM);
  EXPECT_EQ(Run(*p, [] { return RawClone(CLONE_NEWNET | SIGCHLD); }), EPERM);
  EXPECT_EQ(Run(*p, [] { return RawClone(CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD); }), EPERM);
  // clone3 hides its flags behind a pointer: ENOSYS, and glibc falls back.
  EXPECT_EQ(Run(*p, [] { return syscall(SYS_clone3, nullptr, 0); }), ENOSYS);
}

TEST_F(ArgRulesKernelTest, RuntimeRefusesExecutableMemoryThatIsOrWasWritable) {
  auto p = Load("default");  // includes runtime
  ASSERT_NE(p, nullptr);
  auto map = [](int prot, int flags) {
    return [prot, flags]() -> long {
      long a = syscall(SYS_mmap, 0, 4096, prot, flags, -1, 0);
      return a == -1 ? -1 : 0;
    };
  };
  EXPECT_EQ(Run(*p, map(PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)), 0);
  EXPECT_EQ(Run(*p, map(PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS)), EACCES);
  EXPECT_EQ(Run(*p, map(PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS)),
            EACCES);
  // Making a writable page executable: the shellcode step.
  EXPECT_EQ(Run(*p,
                [] {
                  long a = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                  if (a == -1) return -1L;
                  return syscall(SYS_mprotect, a, 4096, PROT_READ | PROT_EXEC);
                }),
            EACCES);
  EXPECT_EQ(Run(*p,
                [] {
                  long a = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                  if (a == -1) return -1L;
                  return syscall(SYS_mprotect, a, 4096, PROT_READ);
                }),
            0);
}

TEST_F(ArgRulesKernelTest, DefaultNarrowsPrctlAndPrlimit) {
  auto p = Load("default");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(Run(*p, [] { return syscall(SYS_prctl, PR_SET_NAME, "x", 0, 0, 0); }), 0);
  // Would let a process of the same uid trace it.
  EXPECT_EQ(Run(*p, [] { return syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0); }), kKilled);
  EXPECT_EQ(Run(*p, [] { return syscall(SYS_prctl, PR_SET_PTRACER, -1, 0, 0, 0); }), kKilled);
  rlimit lim{};
  EXPECT_EQ(Run(*p, [&lim] { return syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &lim); }),
            0);
  // Another process's limits (its parent's: same uid).
  EXPECT_EQ(Run(*p,
                [&lim] {
                  return syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, nullptr, &lim);
                }),
            kKilled);
}

TEST_F(ArgRulesKernelTest, TheUpperHalfOfA32BitArgumentSmugglesNothing) {
  // The kernel reads socket's family as an int: 1<<32 | AF_INET is AF_INET
  // to it. A rule comparing all 64 bits would see "not AF_INET" and let a
  // != rule pass it; hinetd compares what the kernel sees.
  dir_.Write("unix-only.toml",
             "include = [\"runtime\"]\n"
             "allow = [{ syscall = \"socket\", when = \"family == AF_UNIX\" }, \"close\"]\n");
  auto p = Load("unix-only");
  ASSERT_NE(p, nullptr);
  auto sock = [](uint64_t family) {
    return [family]() -> long {
      long fd = syscall(SYS_socket, family, SOCK_STREAM, 0);
      return fd < 0 ? -1 : 0;
    };
  };
  EXPECT_EQ(Run(*p, sock(AF_UNIX)), 0);
  EXPECT_EQ(Run(*p, sock(AF_INET)), kKilled);
  EXPECT_EQ(Run(*p, sock((uint64_t{1} << 32) | AF_INET)), kKilled);
  // And the same upper bits on AF_UNIX: the kernel makes a unix socket.
  EXPECT_EQ(Run(*p, sock((uint64_t{1} << 32) | AF_UNIX)), 0);
}

// hinetd stops a service child itself (SIGSTOP, a look, SIGCONT: the idle
// check of a stale udp wait child), and the kernel resumes a poll() with a
// timeout that a stop interrupted through restart_syscall, which no program
// calls itself. A filter that killed it would let hinetd's look kill the
// child (the soak benchmark saw udp wait children die "status=seccomp
// syscall=restart_syscall" after reloads). Every filter allows it: the
// shipped policies and one that does not name it.
TEST_F(ArgRulesKernelTest, APollStoppedAndContinuedSurvivesEveryPolicy) {
  dir_.Write("poll-only.toml", "allow = [\"poll\", \"ppoll\", \"read\", \"exit_group\"]\n");
  for (const char* name : {"stdio", "default", "internal", "poll-only"}) {
    SCOPED_TRACE(name);
    auto p = Load(name);
    ASSERT_NE(p, nullptr);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
      if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(200);
      if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, p->fprog()) != 0) _exit(201);
      pollfd pfd{fds[0], POLLIN, 0};
      long rc = syscall(SYS_poll, &pfd, 1, 20000);
      syscall(SYS_exit_group, rc == 1 ? 0 : 1);
    }
    ASSERT_GT(pid, 0);
    // Wait (at most 10 s) until the child sleeps in poll().
    bool in_poll = false;
    for (int i = 0; i < 1000 && !in_poll; ++i) {
      std::ifstream f("/proc/" + std::to_string(pid) + "/syscall");
      long nr = -1;
      f >> nr;
      in_poll = nr == SYS_poll;
      if (!in_poll) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(in_poll) << "the child never waited in poll()";
    int status = 0;
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    ASSERT_EQ(waitpid(pid, &status, WUNTRACED), pid);
    EXPECT_TRUE(WIFSTOPPED(status));
    ASSERT_EQ(kill(pid, SIGCONT), 0);
    // Resumed, the kernel restarts poll() with restart_syscall; alive, the
    // child then sees the byte.
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    close(fds[0]);
    close(fds[1]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << (WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                : "exit " + std::to_string(WEXITSTATUS(status)));
  }
}

}  // namespace
}  // namespace hinetd
