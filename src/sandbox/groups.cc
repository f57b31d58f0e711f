// The @groups a policy's allow list may name. Each group is a set of
// syscalls that are only useful together; the dangerous ones (those that
// create sockets, change ids, touch other processes, map executable memory)
// are in groups of their own so that allowing them is always a visible,
// deliberate line in a policy. Names that do not exist on the native
// architecture are skipped at compile time.
#include <algorithm>
#include <map>

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
      // Creating and connecting new sockets: a way out of the jail over the
      // network. Kept apart so that a policy allowing it says so.
      {"@network-create",
       {"socket", "socketpair", "connect", "bind", "listen", "accept", "accept4"}},
      // Heap and anonymous memory.
      {"@memory",
       {"brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore",
        "msync", "membarrier"}},
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
      // What the C library does at start-up and for threads-within-reason:
      // TLS setup, robust futex lists, restartable sequences, futexes.
      {"@libc-runtime",
       {"arch_prctl", "set_tid_address", "set_robust_list", "get_robust_list", "rseq",
        "futex", "futex_time64", "futex_waitv", "getrandom", "prlimit64"}},
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
      // Starting programs: needed by every service, since the filter is
      // installed before hinetd's own execve of the service.
      {"@exec", {"execve", "execveat"}},
      // Creating processes and threads, and waiting for them.
      {"@process-create",
       {"fork", "vfork", "clone", "clone3", "wait4", "waitid", "waitpid", "kill", "tgkill",
        "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setpgid", "setsid"}},
  };
  return kGroups;
}

}  // namespace

const std::vector<std::string>* FindGroup(const std::string& name) {
  const auto& groups = Groups();
  auto it = groups.find(name);
  return it == groups.end() ? nullptr : &it->second;
}

std::vector<std::string> GroupNames() {
  std::vector<std::string> names;
  for (const auto& [name, members] : Groups()) names.push_back(name);
  return names;
}

}  // namespace hinetd::sandbox
