// What recording a service's system calls costs, per mechanism (issue 12):
// a child makes N cheap system calls (getppid) and times them itself, under
// each of
//   none      no filter
//   allow     a filter that allows everything (the cost of running BPF)
//   log       SECCOMP_RET_LOG for getppid (the kernel writes an audit
//             record per call; the record has the number, not the arguments)
//   notify    SECCOMP_RET_USER_NOTIF for getppid, answered by another process
//             with SECCOMP_USER_NOTIF_FLAG_CONTINUE (what `hinetd learn` does)
//   ptrace    SECCOMP_RET_TRACE for getppid, the parent tracing the child
//             with PTRACE_O_TRACESECCOMP and reading its registers at each stop
// and prints the median of several rounds, in nanoseconds per call.
//
//   sudo ./build/bin/hinetd-bench-learn [N] [ROUNDS] [LOG_N]
//
// RET_LOG writes one kernel log record per call: it runs LOG_N calls
// (default 2000), not N, so as not to flood the kernel log.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "bench: x86_64 or aarch64"
#endif

enum class Mode { kNone, kAllow, kLog, kNotify, kPtrace };

// getppid gets `action`, everything else is allowed.
std::vector<sock_filter> Program(uint32_t action) {
  return {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(seccomp_data, arch)},
      {BPF_JMP | BPF_JEQ | BPF_K, 1, 0, kArch},
      {BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS},
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(seccomp_data, nr)},
      {BPF_JMP | BPF_JEQ | BPF_K, 0, 1, static_cast<uint32_t>(SYS_getppid)},
      {BPF_RET | BPF_K, 0, 0, action},
      {BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW},
  };
}

long Install(const std::vector<sock_filter>& insns, unsigned flags) {
  sock_fprog prog{static_cast<unsigned short>(insns.size()),
                  const_cast<sock_filter*>(insns.data())};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

double NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// In the child: n calls, timed; the ns per call to `out`.
[[noreturn]] void Calls(long n, int out) {
  double start = NowNs();
  for (long i = 0; i < n; ++i) syscall(SYS_getppid);
  double per = (NowNs() - start) / static_cast<double>(n);
  if (write(out, &per, sizeof per) != sizeof per) _exit(2);
  _exit(0);
}

void SendFd(int sock, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) != 1) _exit(3);
}

int RecvFd(int sock) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, 0) != 1) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

// One run: the ns per call the child measured, or -1.
double Run(Mode mode, long n) {
  int result[2];
  int sv[2];
  if (pipe(result) != 0 || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(result[0]);
    close(sv[0]);
    switch (mode) {
      case Mode::kNone: break;
      case Mode::kAllow:
        if (Install({{BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW}}, 0) != 0) _exit(4);
        break;
      case Mode::kLog:
        if (Install(Program(SECCOMP_RET_LOG), 0) != 0) _exit(4);
        break;
      case Mode::kNotify: {
        long fd = Install(Program(SECCOMP_RET_USER_NOTIF), SECCOMP_FILTER_FLAG_NEW_LISTENER);
        if (fd < 0) _exit(4);
        SendFd(sv[1], static_cast<int>(fd));
        close(static_cast<int>(fd));
        break;
      }
      case Mode::kPtrace:
        if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(4);
        raise(SIGSTOP);
        if (Install(Program(SECCOMP_RET_TRACE), 0) != 0) _exit(4);
        break;
    }
    Calls(n, result[1]);
  }
  close(result[1]);
  close(sv[1]);
  int status = 0;
  if (mode == Mode::kNotify) {
    int listener = RecvFd(sv[0]);
    if (listener < 0) return -1;
    seccomp_notif_sizes sizes{};
    syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes);
    std::vector<char> req(std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
    std::vector<char> resp(std::max<size_t>(sizes.seccomp_notif_resp, sizeof(seccomp_notif_resp)));
    for (;;) {
      pollfd p{listener, POLLIN, 0};
      if (poll(&p, 1, 10000) <= 0 || (p.revents & POLLIN) == 0) break;  // HUP: the child is gone
      std::fill(req.begin(), req.end(), 0);
      if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req.data()) != 0) continue;
      std::fill(resp.begin(), resp.end(), 0);
      auto* r = reinterpret_cast<seccomp_notif_resp*>(resp.data());
      r->id = reinterpret_cast<seccomp_notif*>(req.data())->id;
      r->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
      ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp.data());
    }
    close(listener);
    waitpid(pid, &status, 0);
  } else if (mode == Mode::kPtrace) {
    if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) return -1;
    ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
    ptrace(PTRACE_CONT, pid, nullptr, nullptr);
    for (;;) {
      if (waitpid(pid, &status, 0) != pid) return -1;
      if (WIFEXITED(status) || WIFSIGNALED(status)) break;
      int sig = 0;
      if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
        user_regs_struct regs;  // what a recorder reads: number and arguments
        iovec io{&regs, sizeof regs};
        ptrace(PTRACE_GETREGSET, pid, reinterpret_cast<void*>(1) /* NT_PRSTATUS */, &io);
      } else if (WIFSTOPPED(status) && WSTOPSIG(status) != SIGTRAP) {
        sig = WSTOPSIG(status);
      }
      ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
    }
  } else {
    waitpid(pid, &status, 0);
  }
  close(sv[0]);
  double per = -1;
  if (read(result[0], &per, sizeof per) != sizeof per) per = -1;
  close(result[0]);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return per;
}

}  // namespace

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int rounds = argc > 2 ? atoi(argv[2]) : 5;
  long log_n = argc > 3 ? atol(argv[3]) : 2000;
  struct Variant {
    const char* name;
    Mode mode;
    long calls;
  };
  const Variant variants[] = {
      {"none", Mode::kNone, n},     {"allow", Mode::kAllow, n},
      {"log", Mode::kLog, log_n},   {"notify+continue", Mode::kNotify, n / 10},
      {"ptrace", Mode::kPtrace, n / 10},
  };
  printf("%-16s %10s %8s %14s\n", "mechanism", "calls", "rounds", "ns/call median");
  for (const auto& v : variants) {
    std::vector<double> got;
    for (int r = 0; r < rounds; ++r) {
      double per = Run(v.mode, v.calls);
      if (per < 0) {
        fprintf(stderr, "%s: a run failed\n", v.name);
        return 1;
      }
      got.push_back(per);
    }
    std::sort(got.begin(), got.end());
    printf("%-16s %10ld %8d %14.0f\n", v.name, v.calls, rounds, got[got.size() / 2]);
  }
  return 0;
}
