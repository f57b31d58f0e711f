// The listener's seccomp filter in the real kernel, in a forked child: the
// kernel accepts the program, the calls the listener makes pass, others kill
// with SIGSYS, and a SIGSTOP/SIGCONT in the middle of a poll() (which the
// kernel resumes with restart_syscall) does not. The unit tests check the
// same program in the user-space evaluator; this keeps the two honest.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include "sandbox/daemon_filters.h"

namespace hinetd {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Exit codes of the child for steps that failed without being killed.
constexpr int kSetupFailed = 90;

// waitpid with a deadline; -1 if the child did not change state in time.
int WaitFor(pid_t pid, int options, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t w = waitpid(pid, &status, options | WNOHANG);
    if (w == pid) return status;
    if (w < 0 || Clock::now() >= deadline) return -1;
    usleep(1000);  // polling a child's state; bounded by the deadline
  }
}

// Forks a child that installs the listener's filter (after no_new_privs,
// and with no core dump for a SIGSYS), runs `body` and exits with what it
// returns. `body` may make only raw system calls. Returns the child's pid.
pid_t ForkUnderListenerFilter(const std::function<int()>& body) {
  auto filter = sandbox::ListenerFilter();
  EXPECT_TRUE(filter.ok()) << (filter.ok() ? "" : filter.error().message());
  if (!filter.ok()) return -1;
  const sock_fprog* prog = (*filter)->fprog();
  pid_t pid = fork();
  if (pid == 0) {
    rlimit no_core{0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) != 0) {
      _exit(kSetupFailed);
    }
    _exit(body());
  }
  return pid;
}

// The wait status of a child running `body` under the filter.
int RunUnderListenerFilter(const std::function<int()>& body) {
  pid_t pid = ForkUnderListenerFilter(body);
  if (pid < 0) return -1;
  int status = WaitFor(pid, 0, milliseconds(10000));
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  return status;
}

std::string DescribeStatus(int status) {
  if (status == -1) return "no exit in time";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

bool KilledBySigsys(int status) {
  return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

TEST(ListenerFilterInTheKernel, TheListenersCallsPass) {
  // The log relay, made before the filter as the monitor makes it.
  int relay[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, relay), 0);
  int status = RunUnderListenerFilter([relay] {
    // udp nowait's fresh socket, with its options.
    long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return 1;
    int one = 1;
    if (syscall(SYS_setsockopt, fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return 2;
    if (syscall(SYS_fcntl, fd, F_GETFL) < 0) return 3;
    long copy = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) return 4;
    syscall(SYS_close, copy);
    syscall(SYS_close, fd);
    // A log line to the monitor's relay: one write, one message.
    if (syscall(SYS_write, relay[1], "<6>event=x", 10) != 10) return 5;
    char line[16];
    if (syscall(SYS_recvfrom, relay[0], line, sizeof line, MSG_DONTWAIT, nullptr, nullptr) != 10) {
      return 5;
    }
    // The heap: a large block, read-write.
    void* p = reinterpret_cast<void*>(syscall(SYS_mmap, nullptr, 1 << 20, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) return 6;
    syscall(SYS_madvise, p, 1 << 20, MADV_HUGEPAGE);  // EINVAL without THP; not a kill
    if (syscall(SYS_munmap, p, 1 << 20) != 0) return 7;
    if (syscall(SYS_getpid) <= 0) return 8;
    // pthread_once's wake, the vDSO's fallback.
    int word = 0;
    if (syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0) != 0) return 9;
    timespec now{};
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now) != 0) return 10;
    fd = syscall(SYS_socket, AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);  // EAFNOSUPPORT without IPv6
    if (fd >= 0) syscall(SYS_close, fd);
    return 0;
  });
  close(relay[0]);
  close(relay[1]);
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << DescribeStatus(status);
}

TEST(ListenerFilterInTheKernel, OtherCallsKill) {
  const std::vector<std::pair<std::string, std::function<int()>>> forbidden = {
      {"socket(AF_NETLINK)",
       [] { return static_cast<int>(syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0)); }},
      {"socket(AF_INET, SOCK_STREAM)",
       [] { return static_cast<int>(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0)); }},
      // No unix socket: syslog's /dev/log (or any other socket file,
      // abstract or not) is out of the listener's reach.
      {"socket(AF_UNIX, SOCK_DGRAM)",
       [] { return static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)); }},
      {"socket(AF_UNIX, SOCK_STREAM)",
       [] { return static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)); }},
      {"sendto",
       [] { return static_cast<int>(syscall(SYS_sendto, 1, "x", 1, MSG_NOSIGNAL, nullptr, 0)); }},
      {"mmap(PROT_EXEC)",
       [] {
         return static_cast<int>(syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != 0);
       }},
      {"openat",
       [] { return static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY)); }},
      {"execve",
       [] {
         char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
         return static_cast<int>(syscall(SYS_execve, "/bin/true", argv, nullptr));
       }},
      {"getsockname", [] {
         sockaddr_storage ss{};
         socklen_t len = sizeof ss;
         return static_cast<int>(syscall(SYS_getsockname, 0, &ss, &len));
       }}};
  for (const auto& [what, body] : forbidden) {
    int status = RunUnderListenerFilter(body);
    EXPECT_TRUE(KilledBySigsys(status)) << what << ": " << DescribeStatus(status);
  }
}

char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return '?';
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() ? stat[close + 2] : '?';
}

TEST(ListenerFilterInTheKernel, StopAndContinueDuringPollDoNotKill) {
  // The kernel resumes a poll() with a timeout, interrupted by a stop
  // signal, through restart_syscall: the filter must allow it.
  int ready[2];
  int wake[2];
  ASSERT_EQ(pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(wake, O_CLOEXEC), 0);
  pid_t pid = ForkUnderListenerFilter([&] {
    char r = 'r';
    if (syscall(SYS_write, ready[1], &r, 1) != 1) return 1;
    pollfd p{wake[0], POLLIN, 0};
#ifdef SYS_poll
    long n = syscall(SYS_poll, &p, 1, 20000);
#else
    timespec ts{20, 0};
    long n = syscall(SYS_ppoll, &p, 1, &ts, nullptr, 0);
#endif
    return n == 1 ? 0 : 2;
  });
  ASSERT_GT(pid, 0);
  close(ready[1]);
  close(wake[0]);
  // It has its filter and is about to block in poll(); wait until it does.
  pollfd p{ready[0], POLLIN, 0};
  char r = 0;
  bool started = poll(&p, 1, 10000) == 1 && read(ready[0], &r, 1) == 1;
  auto deadline = Clock::now() + milliseconds(10000);
  while (started && ProcState(pid) != 'S' && Clock::now() < deadline) {
    usleep(1000);  // polling the child's state; bounded by the deadline
  }
  bool sleeping = started && ProcState(pid) == 'S';
  int stopped = -1;
  if (sleeping) {
    kill(pid, SIGSTOP);
    stopped = WaitFor(pid, WUNTRACED, milliseconds(10000));
    kill(pid, SIGCONT);
  }
  char w = 'w';
  ssize_t written = write(wake[1], &w, 1);
  int status = WaitFor(pid, 0, milliseconds(10000));
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  close(ready[0]);
  close(wake[1]);
  ASSERT_TRUE(started) << "the child never got under its filter: " << DescribeStatus(status);
  ASSERT_TRUE(sleeping) << "the child never blocked in poll()";
  ASSERT_TRUE(stopped != -1 && WIFSTOPPED(stopped)) << "the child did not stop";
  EXPECT_EQ(written, 1);
  EXPECT_TRUE(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << DescribeStatus(status);
}

}  // namespace
}  // namespace hinetd
