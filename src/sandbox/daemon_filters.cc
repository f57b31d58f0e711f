#include "sandbox/daemon_filters.h"

#include <errno.h>
#include <seccomp.h>

namespace hinetd::sandbox {

using base::Error;
using base::Result;

namespace {

const std::vector<std::string>& ListenerSyscalls() {
  static const std::vector<std::string> kAllowed = {
      // The event loop, its signals and its clock.
      "epoll_wait", "epoll_pwait", "epoll_ctl", "read", "write", "close", "fcntl",
      "clock_gettime", "gettimeofday", "rt_sigreturn", "rt_sigprocmask",
      // Connections: accept them, peek at datagrams, drop refused ones.
      "accept4", "recvmsg", "recvfrom", "getsockname", "getpeername", "getsockopt",
      // udp nowait: a fresh socket on the service's address (the reason the
      // listener keeps CAP_NET_BIND_SERVICE), the old one connected to the peer.
      "socket", "bind", "setsockopt", "connect",
      // Descriptors to the monitor (waiting for room before it exits); syslog.
      "sendmsg", "sendto", "poll", "ppoll",
      // The C library's heap and its locks.
      "brk", "mmap", "munmap", "mremap", "madvise", "futex", "getpid", "gettid",
      // glibc's syslog reads the time zone once.
      "openat", "newfstatat", "fstat", "lseek",
      "exit", "exit_group"};
  return kAllowed;
}

}  // namespace

Result<std::unique_ptr<BpfProgram>> ListenerFilter() {
  PolicySpec spec;
  spec.name = "hinetd-listener";
  spec.default_action = Action{ActionKind::kKill, 0};
  for (const auto& name : ListenerSyscalls()) {
    spec.rules.push_back(Rule{name, Action{ActionKind::kAllow, 0}, {}});
  }
  return Compile(spec);
}

const std::vector<std::string>& MonitorDenyList() {
  static const std::vector<std::string> kDenied = {
      "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
      "fsconfig", "fspick", "mount_setattr", "init_module", "finit_module", "delete_module",
      "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
      "process_vm_writev", "kcmp", "keyctl", "add_key", "request_key", "setns", "unshare",
      "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "reboot",
      "swapon", "swapoff", "acct", "quotactl", "syslog", "lookup_dcookie", "name_to_handle_at",
      "open_by_handle_at", "iopl", "ioperm", "uselib", "personality", "vhangup"};
  return kDenied;
}

Result<std::unique_ptr<BpfProgram>> MonitorFilter() {
  // Default allow: built directly with libseccomp (Compile refuses an
  // allow-by-default policy, rightly, for services).
  struct Release {
    void operator()(void* c) const { seccomp_release(c); }
  };
  std::unique_ptr<void, Release> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return Error("libseccomp: seccomp_init failed");
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return base::ErrnoError("libseccomp: filter attributes", -rc);
  for (const auto& name : MonitorDenyList()) {
    int nr = NativeSyscallNumber(name);
    if (nr < 0) continue;
    rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) return base::ErrnoError("libseccomp: rule for " + name, -rc);
  }
  return ExportBpf(ctx.get(), "the monitor's filter");
}

}  // namespace hinetd::sandbox
