// hinetd-probe-escape: what `hinetd audit --prove` runs in a service's
// child instead of the service. hinetd starts it exactly as it starts the
// service (the same plan: chroot, ids, capabilities, limits, namespaces,
// Landlock, environment), executed by descriptor like hinetd-internal; the
// one difference is when the service's seccomp program is installed: hinetd
// installs it before its execve of the service, the probe installs the
// same program (hex in argv[2]) as its first act, so that a policy need not
// allow the probe's execveat. Then it attempts one escape (argv[1]) and
// reports on standard output (the socket hinetd gave it), one line each:
//   try SYSCALL          before each system call of the attempt
//   refused SYSCALL ERRNO   the call failed (the escape did not happen)
//   escaped DETAIL       the escape worked
// A call the filter kills ends the process with SIGSYS after its "try" line.
//
// Static, no exceptions: after the filter is installed it makes only the
// attempt's system calls, write and exit_group.
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <initializer_list>

namespace {

constexpr int kExitEscaped = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;

void Say(const char* a, const char* b = "", const char* c = "") {
  char line[512];
  size_t n = 0;
  for (const char* part : {a, b, c}) {
    if (*part == '\0') continue;
    if (n > 0 && n < sizeof line - 2) line[n++] = ' ';
    for (; *part != '\0' && n < sizeof line - 2; ++part) line[n++] = *part;
  }
  line[n++] = '\n';
  for (size_t off = 0; off < n;) {
    long w = syscall(SYS_write, 1, line + off, n - off);
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

void Try(const char* call) { Say("try", call); }

// The call failed: report it and end (the escape did not happen).
[[noreturn]] void Refused(const char* call, int err) {
  char num[16];
  snprintf(num, sizeof num, "%d", err);
  Say("refused", call, num);
  syscall(SYS_exit_group, kExitRefused);
  _exit(kExitRefused);
}

[[noreturn]] void Escaped(const char* detail) {
  Say("escaped", detail);
  syscall(SYS_exit_group, kExitEscaped);
  _exit(kExitEscaped);
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The service's program, as hinetd compiled it, installed as the child
// would have before execve (no_new_privs is already set by the child).
bool InstallFilter(const char* hex) {
  size_t len = strlen(hex);
  if (len == 0 || len % (2 * sizeof(sock_filter)) != 0) return false;
  static sock_filter insns[BPF_MAXINSNS];
  size_t count = len / (2 * sizeof(sock_filter));
  if (count > BPF_MAXINSNS) return false;
  auto* bytes = reinterpret_cast<unsigned char*>(insns);
  for (size_t i = 0; i < len / 2; ++i) {
    int hi = Hex(hex[2 * i]);
    int lo = Hex(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  sock_fprog prog{static_cast<unsigned short>(count), insns};
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

long Call(const char* name, long r) {
  if (r < 0) Refused(name, errno);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  // argv: NAME ATTEMPT FILTER-HEX|- ARG
  if (argc < 4) return kExitUsage;
  const char* attempt = argv[1];
  const char* arg = argv[3];
  if (strcmp(argv[2], "-") != 0 && !InstallFilter(argv[2])) {
    Say("error installing the filter", strerror(errno));
    return kExitUsage;
  }
  if (strcmp(attempt, "write-outside") == 0) {
    // ARG: a file the service's uid may create, outside its jail.
    Try("openat");
    Call("openat", syscall(SYS_openat, AT_FDCWD, arg, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    Escaped(arg);
  }
  if (strcmp(attempt, "dotdot") == 0) {
    // ARG: a readable file outside the jail, relative to the host's root.
    Try("chdir");
    for (int i = 0; i < 64; ++i) Call("chdir", syscall(SYS_chdir, ".."));
    Try("openat");
    Call("openat", syscall(SYS_openat, AT_FDCWD, arg, O_RDONLY | O_CLOEXEC));
    Escaped(arg);
  }
  if (strcmp(attempt, "proc1") == 0) {
    Try("openat");
    long fd = Call("openat", syscall(SYS_openat, AT_FDCWD, "/proc/1/environ", O_RDONLY | O_CLOEXEC));
    char c;
    Try("read");
    Call("read", syscall(SYS_read, fd, &c, 1));
    Escaped("/proc/1/environ");
  }
  if (strcmp(attempt, "exec-sh") == 0) {
    const char* sh_argv[] = {"sh", "-c", "echo escaped /bin/sh ran", nullptr};
    const char* envp[] = {"PATH=/bin:/usr/bin", nullptr};
    Try("execve");
    Call("execve", syscall(SYS_execve, "/bin/sh", sh_argv, envp));
  }
  if (strcmp(attempt, "connect") == 0) {
    // ARG: a port listening on 127.0.0.1.
    Try("socket");
    long fd = Call("socket", syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(atoi(arg)));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Try("connect");
    Call("connect", syscall(SYS_connect, fd, &to, sizeof to));
    Escaped("connected to 127.0.0.1");
  }
  if (strcmp(attempt, "userns") == 0) {
    Try("unshare");
    Call("unshare", syscall(SYS_unshare, CLONE_NEWUSER));
    Escaped("in a new user namespace");
  }
  if (strcmp(attempt, "ptrace") == 0) {
    // ARG: the pid of another process of the service's uid.
    Try("ptrace");
    Call("ptrace", syscall(SYS_ptrace, PTRACE_ATTACH, atoi(arg), 0, 0));
    Escaped("attached");
  }
  if (strcmp(attempt, "signal") == 0) {
    Try("kill");
    Call("kill", syscall(SYS_kill, atoi(arg), SIGTERM));
    Escaped("signalled");
  }
  if (strcmp(attempt, "regain-root") == 0) {
    // ARG: the service's uid. Uid 0 already is root: try the capabilities.
    if (atoi(arg) != 0) {
      Try("setresuid");
      Call("setresuid", syscall(SYS_setresuid, 0, 0, 0));
      Escaped("uid 0");
    }
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct all[2];
    for (auto& d : all) d = {~0U, ~0U, 0};
    Try("capset");
    Call("capset", syscall(SYS_capset, &hdr, all));
    Escaped("every capability");
  }
  if (strcmp(attempt, "setgroups-root") == 0) {
    gid_t root[1] = {0};
    Try("setgroups");
    Call("setgroups", syscall(SYS_setgroups, 1, root));
    Escaped("group 0");
  }
  if (strcmp(attempt, "chroot-escape") == 0) {
    // ARG: as for dotdot. chroot into a directory below "/", which leaves
    // the cwd outside the new root; climb; chroot there; read the host file.
    const char* sub = nullptr;
    Try("faccessat");
    for (const char* d : {"/usr", "/bin", "/lib", "/etc", "/dev", "/srv", "/var", "/tmp", "/proc"}) {
      if (syscall(SYS_faccessat, AT_FDCWD, d, F_OK, 0) == 0) {
        sub = d;
        break;
      }
    }
    if (sub == nullptr) sub = "/nonexistent";  // chroot fails with ENOENT: refused
    Try("chdir");
    Call("chdir", syscall(SYS_chdir, "/"));
    Try("chroot");
    Call("chroot", syscall(SYS_chroot, sub));
    Try("chdir");
    for (int i = 0; i < 64; ++i) Call("chdir", syscall(SYS_chdir, ".."));
    Try("chroot");
    Call("chroot", syscall(SYS_chroot, "."));
    Try("openat");
    Call("openat", syscall(SYS_openat, AT_FDCWD, arg, O_RDONLY | O_CLOEXEC));
    Escaped(arg);
  }
  if (strcmp(attempt, "raise-limit") == 0) {
    rlimit now{};
    Try("prlimit64");
    Call("prlimit64", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &now));
    rlimit more{now.rlim_max + 1, now.rlim_max + 1};
    Call("prlimit64", syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &more, nullptr));
    Escaped("RLIMIT_NOFILE raised above its hard limit");
  }
  Say("error unknown attempt", attempt);
  return kExitUsage;
}
