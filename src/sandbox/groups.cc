// The @groups a policy's allow list may name. Each group is a set of
// syscalls that are only useful together, and none of them is dangerous:
// a policy that allows a dangerous syscall (see IsDangerous) must name it,
// so that every such grant is a visible line with its justification.
// Names that do not exist on the native architecture are skipped at compile
// time.
#include <algorithm>
#include <map>
#include <set>

#include "sandbox/policy.h"

namespace hinetd::sandbox {

namespace {

using Table = std::map<std::string, std::vector<std::string>>;

const Table& Groups() {
  static const Table kGroups = {
      // Reading and writing descriptors the process already holds.
      {"@io-basic",
       {"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
        "preadv2", "pwritev2", "close", "lseek", "_llseek", "dup", "dup2", "dup3", "fcntl",
        "fcntl64", "fstat", "fstat64", "poll", "ppoll", "select", "_newselect", "pselect6",
        "sendfile", "sendfile64", "splice", "tee", "fsync", "fdatasync", "flock",
        "ftruncate", "ftruncate64", "fadvise64", "fadvise64_64", "copy_file_range"}},
      // Waiting on descriptors with epoll and friends.
      {"@io-event",
       {"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
        "epoll_pwait2", "eventfd", "eventfd2", "pipe", "pipe2"}},
      // Send and receive on sockets already open (the service's stdin/stdout).
      {"@network-io",
       {"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64",
        "shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt"}},
      // Heap and memory the process already has mapped. mmap and mprotect
      // can make memory executable: they are named, never grouped.
      {"@memory", {"brk", "munmap", "mremap", "madvise", "mincore", "msync", "membarrier"}},
      // Clocks and sleeping.
      {"@time",
       {"clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
        "gettimeofday", "time", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64",
        "times", "timerfd_create", "timerfd_settime", "timerfd_gettime", "getitimer",
        "setitimer", "alarm"}},
      // Signal handling within the process itself.
      {"@signal",
       {"rt_sigaction", "sigaction", "rt_sigprocmask", "sigprocmask", "rt_sigreturn",
        "sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "sigaltstack", "signalfd", "signalfd4", "pause"}},
      // Questions a process asks about itself; no effect on anything.
      {"@process-info",
       {"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getuid32",
        "geteuid32", "getgid32", "getegid32", "getresuid", "getresgid", "getresuid32",
        "getresgid32", "getgroups", "getgroups32", "getpgrp", "getpgid", "getsid", "uname",
        "getrlimit", "ugetrlimit", "getrusage", "sysinfo", "getcpu", "sched_getaffinity",
        "sched_yield", "getpriority", "capget"}},
      // Ending the process.
      {"@exit", {"exit", "exit_group"}},
      // What the C library does at start-up and for its threads: TLS setup,
      // robust futex lists, restartable sequences, futexes, its random seed.
      // (prlimit64, which glibc also calls, can change the limits of other
      // processes of the same uid, so it is named, not grouped.)
      {"@libc-runtime",
       {"arch_prctl", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
        "futex", "futex_time64", "futex_waitv", "getrandom"}},
      // Looking up and reading files (inside the chroot).
      {"@file-read",
       {"open", "openat", "openat2", "stat", "stat64", "lstat", "lstat64", "newfstatat",
        "fstatat64", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access",
        "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64",
        "getcwd", "chdir", "fchdir", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
        "llistxattr", "flistxattr"}},
      // Changing the file system (inside the chroot, as the service's uid).
      {"@file-write",
       {"creat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
        "renameat2", "link", "linkat", "symlink", "symlinkat", "truncate", "truncate64",
        "chmod", "fchmod", "fchmodat", "utime", "utimes", "utimensat", "futimesat",
        "umask", "fallocate", "mknod", "mknodat"}},
      // Waiting for child processes and arranging process groups. Creating
      // processes (clone, fork) and signalling them (kill) are named.
      {"@process-wait", {"wait4", "waitid", "waitpid", "setpgid", "setsid"}},
  };
  return kGroups;
}

}  // namespace

const std::vector<std::string>* FindGroup(const std::string& name) {
  const auto& groups = Groups();
  auto it = groups.find(name);
  return it == groups.end() ? nullptr : &it->second;
}

bool IsDangerous(const std::string& name) {
  // After minijail's lint list: each reaches beyond the connection the
  // service was given (other processes, the network, the kernel's
  // attack surface), or makes memory executable.
  static const std::set<std::string> kDangerous = {
      "execve", "execveat", "mmap", "mmap2", "mprotect", "pkey_mprotect", "ioctl", "prctl",
      "clone", "clone3", "fork", "vfork", "kill", "tgkill", "tkill", "rt_sigqueueinfo",
      "rt_tgsigqueueinfo", "socket", "socketpair", "connect", "bind", "listen", "accept",
      "accept4", "ptrace", "mount", "umount2", "pivot_root", "chroot", "setns", "unshare",
      "bpf", "personality", "process_vm_readv", "process_vm_writev", "memfd_create",
      "userfaultfd", "keyctl", "add_key", "request_key", "perf_event_open", "io_uring_setup",
      "io_uring_enter", "init_module", "finit_module", "delete_module", "kexec_load",
      "kexec_file_load", "reboot", "swapon", "swapoff", "setuid", "setgid", "setreuid",
      "setregid", "setresuid", "setresgid", "setgroups", "setuid32", "setgid32", "setreuid32",
      "setregid32", "setresuid32", "setresgid32", "setgroups32", "socketcall", "ipc",
      "prlimit64", "process_madvise", "capset", "seccomp", "quotactl",
      "name_to_handle_at", "open_by_handle_at", "settimeofday", "clock_settime", "adjtimex",
      "clock_adjtime", "sethostname", "setdomainname", "acct", "iopl", "ioperm",
      "lookup_dcookie", "fanotify_init", "move_pages", "migrate_pages", "mbind",
      "set_mempolicy", "vmsplice", "fsopen", "fsmount", "fsconfig", "move_mount", "open_tree",
      "mount_setattr", "pidfd_getfd", "pidfd_open", "pidfd_send_signal", "syslog", "uselib",
      "vhangup", "nfsservctl", "kcmp"};
  return kDangerous.count(name) != 0;
}

std::vector<std::string> GroupNames() {
  std::vector<std::string> names;
  for (const auto& [name, members] : Groups()) names.push_back(name);
  return names;
}

}  // namespace hinetd::sandbox
