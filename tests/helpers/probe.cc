// hinetd-probe: reports what the hinetd sandbox left a service.
//
// Integration tests run it through the daemon's real spawn path (chroot,
// uid drop, capability drop, no_new_privs, seccomp) and parse its report.
// The chroot holds nothing but this static binary, so everything is read
// with direct syscalls: no /proc, no stdio, no locale, no heap.
//
// The report goes to fd 1 as "key=value" lines and ends with "end=1":
//   fds fd0 fd1 fd2 nonblock0 pid ppid sid pgid uid gid groups
//   cap_eff cap_prm cap_inh cap_bnd cap_amb (16 hex digits)
//   no_new_privs seccomp dumpable keepcaps securebits pdeathsig
//   sigmask (16 hex digits, bit N-1 = signal N) sigign (list)
//   cwd cwd_dev cwd_ino root_dev root_ino umask (4 octal digits)
//   rlimit_NAME=soft,hard ("inf" = unlimited) for core nofile nproc cpu as
//     fsize data stack memlock locks sigpending msgqueue nice rtprio rttime
//     rss
//   argc, one "arg=" line per argv entry, one "env=NAME=VALUE" per variable
// Lists are comma-separated and may be empty. A value that could not be
// read is "err:ENAME" (e.g. "cap_eff=err:EPERM").
//
// Usage:
//   hinetd-probe                  report, exit 0
//   hinetd-probe echo             report, then copy fd 0 to fd 1 until EOF
//   hinetd-probe syscall NAME     report, then make a syscall a tight policy
//                                 forbids and print "after=NAME rc=R errno=E"
//                                 (errno as a number, 0 on success):
//                                   socket: socket(AF_INET, SOCK_STREAM, 0)
//                                   ptrace: ptrace(PTRACE_TRACEME)
//                                   mount: mount("none", "/", "tmpfs", 0, 0),
//                                     undone at once if it succeeds (then an
//                                     "undo_mount=" line comes first)
//                                   kill-self: kill(getpid(), 0)
//                                   kill-group: kill(0, 0) (its own
//                                     process group)
//   hinetd-probe exit N           exit with status N at once, print nothing
//   hinetd-probe sleep S          report, sleep S seconds, exit 0
//   hinetd-probe stderr TEXT      report, write TEXT and "\n" to fd 2
//   hinetd-probe stderr-bytes HEX no report: write the bytes HEX spells (two
//                                 hex digits each, any value) and "\n" to
//                                 fd 2, then "done\n" to fd 1
//   hinetd-probe stderr-flood MS  no report: write short lines ("flood N")
//                                 to fd 2 as fast as it can for MS
//                                 milliseconds, then "lines=K\n" (how many
//                                 it wrote) to fd 1
//   hinetd-probe concurrency DIR MS  no report: create DIR/<pid>, count the
//                                 entries of DIR (the children alive now),
//                                 print "concurrency=N", hold MS milliseconds,
//                                 remove DIR/<pid>, exit 0
//   hinetd-probe ignore-term S    report, ignore SIGTERM, sleep S seconds
//   hinetd-probe udp N            no report: answer up to N datagrams on fd 0
//                                 (connected or not), each with one datagram
//                                 "instance=N proto=PROTO remote=IP:PORT
//                                 local=IP:PORT got=DATA" (remote from
//                                 TCPREMOTEIP/TCPREMOTEPORT, local from
//                                 TCPLOCALIP/TCPLOCALPORT, "-" for one unset)
//                                 sent to its source; exit 0 after N, or
//                                 after 3 s without a datagram
//   hinetd-probe udp-echo N       no report: send each datagram back to its
//                                 source byte for byte, up to N; exit 0 after
//                                 N, or after 3 s without a datagram (a
//                                 refused reply, ECONNREFUSED, is skipped)
//   hinetd-probe tty              no report: what a service could do to the
//                                 terminal hinetd was started from: open
//                                 /dev/tty (its controlling terminal, if it
//                                 has one) as "tty_open=", then its session
//                                 and process group as "sid=" and "pgid="
//   hinetd-probe udp-taint HOW    answer one datagram with "rcvtimeo_us=T
//                                 rcvbuf=B filter=N got=DATA" (fd 0's receive
//                                 timeout, receive buffer and socket filter
//                                 length as this child found them), then
//                                 leave fd 0 tainted and exit 0: a receive
//                                 timeout of 1 ms, the smallest receive buffer
//                                 and a filter that drops every datagram; HOW
//                                 "lock" locks the filter (SO_LOCK_FILTER),
//                                 "open" does not
//   hinetd-probe udp-spoil HOW    answer one datagram as "udp 1" does, then
//                                 leave fd 0 (a udp wait service's shared
//                                 socket) damaged and exit 0: HOW is
//                                 "connect" (to that datagram's source) or
//                                 "shutdown" (SHUT_RDWR)
//
// Attacks (tests/attack): no full report, only "key=VALUE" lines of their
// own, where a call's result is "ok" (or a number) or "err:ENAME":
//   hinetd-probe daemonize N      what a daemon does to outlive its parent:
//                                 fork a first child that calls setsid and
//                                 forks N grandchildren, which call setsid
//                                 again, print "grandchild=PID sid=SID" and
//                                 sleep 600 s; the first child exits at once.
//                                 The service process reaps it, prints
//                                 "daemonized=N", and exits 0 at EOF on fd 0
//   hinetd-probe syslog N TEXT    openlog("probe", LOG_PID, LOG_DAEMON), then
//                                 N messages "TEXT I" at LOG_ERR; prints
//                                 "syslog=N"
//   hinetd-probe grandchild-syscall NAME
//                                 fork a child that prints "victim=PID" and
//                                 makes the forbidden syscall NAME (as
//                                 "syscall NAME"); reap it, print
//                                 "victim_status=signal:N" (or exit:N)
//   hinetd-probe daemon-syscall NAME
//                                 the same from a daemon: setsid, fork, the
//                                 first child exits, the second calls setsid
//                                 and does the above; the probe reaps every
//                                 child it has (adopted ones too, as the
//                                 init of a PID namespace)
//   hinetd-probe late-daemon-syscall NAME
//                                 as daemon-syscall, but the daemon waits
//                                 for a byte on fd 0 before the syscall
//                                 (the probe itself ends at once, with
//                                 "end=1": outside a PID namespace the
//                                 daemon is not its child)
//   hinetd-probe identity FILE    (drops_privileges) try to become its own
//                                 ids (allowed), uid/gid 0, another uid,
//                                 groups 0 and another; write uid_map,
//                                 unshare, setns, umount "/", bind-mount; the
//                                 classic chroot escape, then open FILE (a
//                                 host path outside the jail); print the
//                                 ids, cap sets, CapEff of /proc/self/status
//                                 and "pid=", "end=1"; exit 0 at EOF on fd 0
//   hinetd-probe fork-bomb        fork until fork fails (at most 10000
//                                 times), each child sleeping 600 s; print
//                                 "forks=N" and "fork_error=err:ENAME", then
//                                 exit 0 at EOF on fd 0
//   hinetd-probe kill-other       read a pid ("N\n") on fd 0, then print
//                                 kill_pid=, kill_group= and kill_all=: the
//                                 results of kill(N), kill(-N) and kill(-1),
//                                 all with SIGKILL
//   hinetd-probe steal            read a pid ("N\n") on fd 0, then print
//                                 pidfd_open= (of N), pidfd_getfd= (its fd 0,
//                                 if the pidfd was had), process_vm_readv=
//                                 (8 bytes of N), pidfd_open_self= and
//                                 pidfd_getfd_self= (its own fd 0: what the
//                                 kernel always allows, without a filter)
//   hinetd-probe proc             read a pid ("N\n") on fd 0, then print
//                                 proc_mem= (open /proc/N/mem for writing:
//                                 its memory) and proc_environ= (read
//                                 /proc/N/environ: its peer's address),
//                                 which need an unjailed service
//   hinetd-probe userns           try for a user namespace: print
//                                 clone_newuser= (clone(CLONE_NEWUSER |
//                                 SIGCHLD); a child made exits at once),
//                                 clone3_newuser=, then cap_eff, cap_prm and
//                                 userns= (the link /proc/self/ns/user),
//                                 then unshare_newuser= (unshare(
//                                 CLONE_NEWUSER)) and the three again
//   hinetd-probe thread           no report: start a thread (pthread) that
//                                 calls sysinfo, which nothing else in the
//                                 probe does; join it, print
//                                 "thread_sysinfo=ok" (or err:ENAME), "end=1"
//   hinetd-probe prctl-sweep N    no report: prctl with N options no kernel
//                                 has (0x7fff0000 and up: EINVAL each),
//                                 print "swept=N", "end=1"
//   hinetd-probe netns PORT KEY   what its namespaces leave it: hostname=
//                                 (uname), ifaces= (NAME:up|down for every
//                                 interface it sees), connect= (TCP to
//                                 127.0.0.1:PORT), msgget= (the System V
//                                 message queue KEY, which must exist), then
//                                 copy fd 0 to fd 1 until EOF
//   hinetd-probe udp-leftover S   answer one datagram as "udp 1" does, then
//                                 leave a process behind (setsid, fork
//                                 twice) that reads and drops every
//                                 datagram on fd 0 (a udp wait service's
//                                 shared socket), each 0.1 ms after it came,
//                                 for S seconds; exit 0
// Each ends its lines with "end=1" (daemonize, fork-bomb and udp-leftover
// excepted).
// Bad usage: a line on fd 2, exit 64.

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;    // EX_USAGE from sysexits.h.
constexpr int kExitIoError = 74;  // EX_IOERR from sysexits.h.

constexpr int kIn = 0;
constexpr int kOut = 1;
constexpr int kErr = 2;

// fds reported in "fds=": anything a leak could plausibly produce.
constexpr int kMaxFdScanned = 1024;
constexpr int kMaxCap = 64;
constexpr int kMaxSignal = 64;
// The kernel's sigset_t is 64 bits on every Linux architecture.
constexpr size_t kKernelSigsetBytes = 8;

// Blocks until fd is ready. Only reached on a non-blocking fd, whose flag
// we must not clear: it is shared with whoever else holds the socket.
bool WaitFor(int fd, short events) {
  pollfd pfd = {fd, events, 0};
  for (;;) {
    if (poll(&pfd, 1, -1) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

// Writes all of buf to fd. Returns false with errno set on failure.
bool WriteAll(int fd, const char* buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      if (!WaitFor(fd, POLLOUT)) return false;
      continue;
    }
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Line-oriented report buffer; flushed when full and when a mode is about
// to do something the reader may wait on.
class Report {
 public:
  Report& Str(const char* s) {
    while (*s != '\0') Char(*s++);
    return *this;
  }
  Report& Char(char c) {
    if (len_ == sizeof(buf_)) Flush();
    buf_[len_++] = c;
    return *this;
  }
  Report& Key(const char* key) { return Str(key).Char('='); }
  Report& Dec(int64_t value) {
    if (value < 0) Char('-');
    return UDec(value < 0 ? 0 - static_cast<uint64_t>(value)
                          : static_cast<uint64_t>(value));
  }
  Report& UDec(uint64_t value) {
    char digits[24];
    size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0) Char(digits[--n]);
    return *this;
  }
  // Exactly 16 lower-case hex digits, e.g. capability and signal masks.
  Report& Hex16(uint64_t value) {
    for (int shift = 60; shift >= 0; shift -= 4) {
      Char("0123456789abcdef"[(value >> shift) & 0xf]);
    }
    return *this;
  }
  // Exactly 4 octal digits, as umask values are usually written.
  Report& Oct4(unsigned value) {
    for (int shift = 9; shift >= 0; shift -= 3) {
      Char(static_cast<char>('0' + ((value >> shift) & 7)));
    }
    return *this;
  }
  // "err:ENAME" for a value the probe could not read.
  Report& Errno(int err) {
    const char* name = strerrorname_np(err);
    if (name != nullptr) return Str("err:").Str(name);
    return Str("err:E").Dec(err);
  }
  Report& Comma(bool* first) {
    if (!*first) Char(',');
    *first = false;
    return *this;
  }
  Report& End() { return Char('\n'); }

  // Writes out what is buffered. Without fd 1 nobody hears the probe, so
  // a failure ends it.
  void Flush() {
    if (!WriteAll(kOut, buf_, len_)) _exit(kExitIoError);
    len_ = 0;
  }

 private:
  char buf_[1 << 16];
  size_t len_ = 0;
};

Report g_report;  // Static storage: 64 KiB is too much for a sandbox stack.

// A number of this process's own, to tell children apart: hinetd starts each
// one as the init of a PID namespace of its own, so getpid() is 1 in every
// one of them. The address of main's stack frame (randomized at every exec)
// mixed with the monotonic clock (the vDSO: no system call).
unsigned long g_instance = 0;
void InitInstance(const void* stack) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  g_instance = (reinterpret_cast<uintptr_t>(stack) >> 4) ^
               (static_cast<unsigned long>(ts.tv_sec) * 1000000000UL +
                static_cast<unsigned long>(ts.tv_nsec));
  g_instance &= 0x7fffffffffffUL;
}

// --- Identity ---

void ReportIds() {
  Report& r = g_report;
  r.Key("pid").Dec(getpid()).End();
  r.Key("instance").Dec(static_cast<long>(g_instance)).End();
  r.Key("ppid").Dec(getppid()).End();
  // sid == pid: the service is a session leader (setsid, only where
  // hinetd has a terminal); pgid == pid: its process group is its own.
  r.Key("sid").Dec(getsid(0)).End();
  r.Key("pgid").Dec(getpgid(0)).End();

  uid_t ruid, euid, suid;
  r.Key("uid");
  if (getresuid(&ruid, &euid, &suid) == 0) {
    r.UDec(ruid).Char(',').UDec(euid).Char(',').UDec(suid);
  } else {
    r.Errno(errno);
  }
  r.End();
  gid_t rgid, egid, sgid;
  r.Key("gid");
  if (getresgid(&rgid, &egid, &sgid) == 0) {
    r.UDec(rgid).Char(',').UDec(egid).Char(',').UDec(sgid);
  } else {
    r.Errno(errno);
  }
  r.End();
}

void ReportGroups() {
  static gid_t groups[65536];  // NGROUPS_MAX on Linux.
  Report& r = g_report;
  r.Key("groups");
  int count =
      getgroups(static_cast<int>(sizeof(groups) / sizeof(groups[0])), groups);
  if (count < 0) {
    r.Errno(errno);
  } else {
    bool first = true;
    for (int i = 0; i < count; ++i) r.Comma(&first).UDec(groups[i]);
  }
  r.End();
}

// --- Capabilities and process flags ---

// Raw capget (no libcap in the chroot): three 64-bit sets built from the
// two 32-bit words of _LINUX_CAPABILITY_VERSION_3.
void ReportCapSets() {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  Report& r = g_report;
  if (syscall(SYS_capget, &header, data) != 0) {
    int err = errno;
    r.Key("cap_eff").Errno(err).End();
    r.Key("cap_prm").Errno(err).End();
    r.Key("cap_inh").Errno(err).End();
    return;
  }
  auto join = [](uint32_t low, uint32_t high) {
    return static_cast<uint64_t>(high) << 32 | low;
  };
  r.Key("cap_eff").Hex16(join(data[0].effective, data[1].effective)).End();
  r.Key("cap_prm").Hex16(join(data[0].permitted, data[1].permitted)).End();
  r.Key("cap_inh").Hex16(join(data[0].inheritable, data[1].inheritable)).End();
}

int BoundingSetHas(int cap) { return prctl(PR_CAPBSET_READ, cap, 0, 0, 0); }

int AmbientSetHas(int cap) {
  return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0);
}

// Builds a mask from a per-capability query (1 = in the set). The kernel
// answers EINVAL past its last capability, which ends the scan.
void ReportCapMask(const char* key, int (*has)(int cap)) {
  Report& r = g_report;
  r.Key(key);
  uint64_t mask = 0;
  for (int cap = 0; cap < kMaxCap; ++cap) {
    int rc = has(cap);
    if (rc > 0) mask |= uint64_t{1} << cap;
    if (rc < 0) {
      if (errno == EINVAL && cap > 0) break;
      r.Errno(errno).End();
      return;
    }
  }
  r.Hex16(mask).End();
}

// One "key=N" line from a prctl getter that returns its answer.
void ReportPrctl(const char* key, int option) {
  Report& r = g_report;
  int rc = prctl(option, 0, 0, 0, 0);
  r.Key(key);
  if (rc < 0) {
    r.Errno(errno);
  } else {
    r.Dec(rc);
  }
  r.End();
}

void ReportPdeathsig() {
  Report& r = g_report;
  int sig = 0;
  r.Key("pdeathsig");
  if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) < 0) {
    r.Errno(errno);
  } else {
    r.Dec(sig);
  }
  r.End();
}

void ReportCapabilitiesAndFlags() {
  ReportCapSets();
  ReportCapMask("cap_bnd", BoundingSetHas);
  ReportCapMask("cap_amb", AmbientSetHas);
  ReportPrctl("no_new_privs", PR_GET_NO_NEW_PRIVS);
  // Under a seccomp filter this is 2 (provided prctl itself is allowed).
  ReportPrctl("seccomp", PR_GET_SECCOMP);
  ReportPrctl("dumpable", PR_GET_DUMPABLE);
  ReportPrctl("keepcaps", PR_GET_KEEPCAPS);
  ReportPrctl("securebits", PR_GET_SECUREBITS);
  ReportPdeathsig();
}

// --- File descriptors ---

const char* FdKind(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errno == EBADF ? "closed" : "error";
  switch (st.st_mode & S_IFMT) {
    case S_IFSOCK:
      return "socket";
    case S_IFCHR:
      return "chr";
    case S_IFIFO:
      return "fifo";
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFBLK:
      return "blk";
    default:
      return "other";  // e.g. anonymous inodes (eventfd, epoll).
  }
}

void ReportFds() {
  Report& r = g_report;
  r.Key("fds");
  bool first = true;
  for (int fd = 0; fd < kMaxFdScanned; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0) r.Comma(&first).Dec(fd);
  }
  r.End();
  r.Key("fd0").Str(FdKind(0)).End();
  r.Key("fd1").Str(FdKind(1)).End();
  r.Key("fd2").Str(FdKind(2)).End();
  int flags = fcntl(kIn, F_GETFL);
  r.Key("nonblock0");
  if (flags < 0) {
    r.Errno(errno);
  } else {
    r.Dec((flags & O_NONBLOCK) != 0 ? 1 : 0);
  }
  r.End();
}

// --- Signals ---

// The kernel's struct sigaction. Only the handler is read, and it comes
// first on every architecture but MIPS; the tail pads for the rest.
struct KernelSigaction {
  uintptr_t handler;
  unsigned long flags;
  uintptr_t restorer;
  uint64_t mask;
  uint64_t spare[4];
};

// Raw syscalls: glibc's wrappers hide signals 32 and 33, which it keeps
// for itself, and a service may well have inherited those blocked.
void ReportSignals() {
  Report& r = g_report;
  uint64_t blocked = 0;
  r.Key("sigmask");
  if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &blocked,
              kKernelSigsetBytes) != 0) {
    r.Errno(errno);
  } else {
    r.Hex16(blocked);
  }
  r.End();

  r.Key("sigign");
  bool first = true;
  for (int sig = 1; sig <= kMaxSignal; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    KernelSigaction old = {};
    if (syscall(SYS_rt_sigaction, sig, nullptr, &old, kKernelSigsetBytes) ==
            0 &&
        old.handler == reinterpret_cast<uintptr_t>(SIG_IGN)) {
      r.Comma(&first).Dec(sig);
    }
  }
  r.End();
}

// --- File system view ---

// Raw getcwd: the kernel prefixes "(unreachable)" when the cwd lies outside
// the root (a chroot escape hazard), which glibc's wrapper turns into
// ENOENT. The test wants to see it.
void ReportCwd() {
  static char cwd[4096 + 1];
  Report& r = g_report;
  r.Key("cwd");
  long len = syscall(SYS_getcwd, cwd, sizeof(cwd) - 1);
  if (len < 0) {
    r.Errno(errno);
  } else {
    cwd[len] = '\0';  // The kernel's length includes its own NUL.
    r.Str(cwd);
  }
  r.End();
}

// "PREFIX_dev=N" and "PREFIX_ino=N" for path; st_dev is glibc's encoding,
// the same number Python's os.stat().st_dev gives outside the chroot.
void ReportInode(const char* dev_key, const char* ino_key, const char* path) {
  Report& r = g_report;
  struct stat st;
  if (stat(path, &st) != 0) {
    int err = errno;
    r.Key(dev_key).Errno(err).End();
    r.Key(ino_key).Errno(err).End();
    return;
  }
  r.Key(dev_key).UDec(st.st_dev).End();
  r.Key(ino_key).UDec(st.st_ino).End();
}

void ReportFileSystem() {
  ReportCwd();
  ReportInode("cwd_dev", "cwd_ino", ".");
  ReportInode("root_dev", "root_ino", "/");
  // umask can only be read by setting it; put the old value back.
  mode_t mask = umask(0);
  umask(mask);
  g_report.Key("umask").Oct4(mask).End();
}

// --- Resource limits ---

void ReportLimitValue(rlim_t value) {
  if (value == RLIM_INFINITY) {
    g_report.Str("inf");
  } else {
    g_report.UDec(value);
  }
}

// "rlimit_NAME=soft,hard", "inf" for RLIM_INFINITY.
void ReportRlimit(const char* name, __rlimit_resource_t resource) {
  Report& r = g_report;
  r.Str("rlimit_").Key(name);
  rlimit limit;
  if (getrlimit(resource, &limit) != 0) {
    r.Errno(errno).End();
    return;
  }
  ReportLimitValue(limit.rlim_cur);
  r.Char(',');
  ReportLimitValue(limit.rlim_max);
  r.End();
}

void ReportRlimits() {
  static const struct {
    const char* name;
    __rlimit_resource_t resource;
  } kLimits[] = {
      {"core", RLIMIT_CORE},
      {"nofile", RLIMIT_NOFILE},
      {"nproc", RLIMIT_NPROC},
      {"cpu", RLIMIT_CPU},
      {"as", RLIMIT_AS},
      {"fsize", RLIMIT_FSIZE},
      {"data", RLIMIT_DATA},
      {"stack", RLIMIT_STACK},
      {"memlock", RLIMIT_MEMLOCK},
      {"locks", RLIMIT_LOCKS},
      {"sigpending", RLIMIT_SIGPENDING},
      {"msgqueue", RLIMIT_MSGQUEUE},
      {"nice", RLIMIT_NICE},
      {"rtprio", RLIMIT_RTPRIO},
      {"rttime", RLIMIT_RTTIME},
      {"rss", RLIMIT_RSS},
  };
  for (const auto& limit : kLimits) ReportRlimit(limit.name, limit.resource);
}

// --- Arguments and environment ---

void ReportArgsAndEnv(int argc, char** argv) {
  Report& r = g_report;
  r.Key("argc").Dec(argc).End();
  for (int i = 0; i < argc; ++i) r.Key("arg").Str(argv[i]).End();
  for (char** env = environ; env != nullptr && *env != nullptr; ++env) {
    r.Key("env").Str(*env).End();
  }
}

// Writes the whole report, ending with "end=1", and flushes it.
void WriteReport(int argc, char** argv) {
  // First, before anything else could possibly open a descriptor.
  ReportFds();
  ReportIds();
  ReportGroups();
  ReportCapabilitiesAndFlags();
  ReportSignals();
  ReportFileSystem();
  ReportRlimits();
  ReportArgsAndEnv(argc, argv);
  g_report.Key("end").Dec(1).End();
  g_report.Flush();
}

// --- Modes ---

void Complain(const char* message) {
  char line[256];
  size_t len = 0;
  for (const char* s = "hinetd-probe: "; *s != '\0'; ++s) line[len++] = *s;
  while (*message != '\0' && len < sizeof(line) - 1) line[len++] = *message++;
  line[len++] = '\n';
  ssize_t ignored = write(kErr, line, len);
  (void)ignored;
}

int Usage() {
  Complain(
      "usage: hinetd-probe [echo | syscall socket|ptrace|mount|kill-self | "
      "exit N | sleep S | stderr TEXT]");
  return kExitUsage;
}

// Parses a decimal number in [0, max]; false for anything else.
bool ParseNumber(const char* text, long max, long* value) {
  if (*text == '\0') return false;
  long result = 0;
  for (; *text != '\0'; ++text) {
    if (*text < '0' || *text > '9') return false;
    result = result * 10 + (*text - '0');
    if (result > max) return false;
  }
  *value = result;
  return true;
}

// Copies fd 0 to fd 1 until EOF, so a test can talk through the sandbox.
int Echo() {
  static char buf[65536];
  for (;;) {
    ssize_t n = read(kIn, buf, sizeof(buf));
    if (n == 0) return kExitOk;
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && WaitFor(kIn, POLLIN)) {
        continue;
      }
      return errno == ECONNRESET ? kExitOk : kExitIoError;
    }
    if (!WriteAll(kOut, buf, static_cast<size_t>(n))) {
      return errno == EPIPE || errno == ECONNRESET ? kExitOk : kExitIoError;
    }
  }
}

bool IsForbiddenSyscallName(const char* name) {
  return strcmp(name, "socket") == 0 || strcmp(name, "ptrace") == 0 ||
         strcmp(name, "mount") == 0 || strcmp(name, "kill-self") == 0 ||
         strcmp(name, "kill-group") == 0;
}

// Undoes the tmpfs that "syscall mount" stacked on "/" when nothing stopped
// it (run as root without a sandbox): left there, it outlives the probe and
// pins the test's chroot directory. "/.." reaches the top mount stacked on
// "/" while "/" itself does not, and umount("/") would even remount the
// real root read-only. So only unmount what is provably not our root.
// Reports "undo_mount=0" or "undo_mount=err:ENAME".
void UndoRootMount() {
  struct stat root, above;
  Report& r = g_report;
  r.Key("undo_mount");
  if (stat("/", &root) != 0 || stat("/..", &above) != 0) {
    r.Errno(errno).End();
    return;
  }
  if (root.st_dev == above.st_dev && root.st_ino == above.st_ino) {
    r.Str("err:ENOENT").End();  // Nothing stacked on "/" after all.
    return;
  }
  if (umount2("/..", 0) != 0) {
    r.Errno(errno).End();
    return;
  }
  r.Dec(0).End();
}

// Makes a syscall a tight policy forbids. Reached "after=" only if the
// filter allowed the call or failed it with an errno instead of killing.
int TryForbiddenSyscall(const char* name) {
  long rc = -1;
  errno = 0;
  if (strcmp(name, "socket") == 0) {
    rc = socket(AF_INET, SOCK_STREAM, 0);
  } else if (strcmp(name, "ptrace") == 0) {
    rc = ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
  } else if (strcmp(name, "mount") == 0) {
    rc = mount("none", "/", "tmpfs", 0, nullptr);
    if (rc == 0) UndoRootMount();
  } else if (strcmp(name, "kill-group") == 0) {
    rc = kill(0, 0);
  } else {
    // Signal 0 only checks that we may signal ourselves, so an allowed
    // call returns 0 and the "after=" line still gets written.
    rc = kill(getpid(), 0);
  }
  int err = rc < 0 ? errno : 0;
  g_report.Key("after").Str(name).Str(" rc=").Dec(rc).Str(" errno=").Dec(err);
  g_report.End().Flush();
  return kExitOk;
}

int Sleep(long seconds) {
  timespec left = {seconds, 0};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
  return kExitOk;
}

int WriteStderr(const char* text) {
  size_t len = strlen(text);
  if (!WriteAll(kErr, text, len) || !WriteAll(kErr, "\n", 1)) {
    return kExitIoError;
  }
  return kExitOk;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// What a hostile service may write to its stderr: any bytes at all.
int WriteStderrBytes(const char* hex) {
  char bytes[1024];
  size_t n = 0;
  for (; hex[0] != '\0'; hex += 2) {
    int hi = HexDigit(hex[0]);
    int lo = hex[1] == '\0' ? -1 : HexDigit(hex[1]);
    if (hi < 0 || lo < 0 || n + 1 >= sizeof bytes) return Usage();
    bytes[n++] = static_cast<char>(hi * 16 + lo);
  }
  bytes[n++] = '\n';
  if (!WriteAll(kErr, bytes, n) || !WriteAll(kOut, "done\n", 5)) return kExitIoError;
  return kExitOk;
}

int64_t MonotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// A service that floods its stderr: whole lines, a pipe buffer's worth at a
// time, for `ms` milliseconds; then says how many lines it wrote.
int FloodStderr(long ms) {
  int64_t end = MonotonicMs() + ms;
  uint64_t lines = 0;
  char buf[4096];
  while (MonotonicMs() < end) {
    size_t len = 0;
    while (len + 32 < sizeof buf) {
      static constexpr char kPrefix[] = "flood ";
      memcpy(buf + len, kPrefix, sizeof kPrefix - 1);
      len += sizeof kPrefix - 1;
      char digits[24];
      size_t d = 0;
      uint64_t v = lines;
      do {
        digits[d++] = static_cast<char>('0' + v % 10);
        v /= 10;
      } while (v != 0);
      while (d > 0) buf[len++] = digits[--d];
      buf[len++] = '\n';
      ++lines;
    }
    if (!WriteAll(kErr, buf, len)) return kExitIoError;
  }
  g_report.Key("lines").UDec(lines).Char('\n').Flush();
  return kExitOk;
}

// Appends the NUL-terminated `text` to buf at *len (bounded by cap).
void Append(char* buf, size_t cap, size_t* len, const char* text) {
  while (*text != '\0' && *len + 1 < cap) buf[(*len)++] = *text++;
}

const char* EnvOr(const char* name, const char* fallback) {
  const char* v = getenv(name);
  return v != nullptr ? v : fallback;
}

// Decimal text of a non-negative number.
void FormatPid(char* out, size_t cap, long value) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && n < sizeof digits);
  size_t i = 0;
  while (n > 0 && i + 1 < cap) out[i++] = digits[--n];
  out[i] = '\0';
}

int ServeUdp(long count) {
  char pid_text[24];
  FormatPid(pid_text, sizeof pid_text, static_cast<long>(g_instance));
  for (long served = 0; served < count; ++served) {
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 3000) != 1) return kExitOk;  // idle: done
    char data[1024];
    sockaddr_storage src{};
    socklen_t src_len = sizeof src;
    ssize_t n = recvfrom(0, data, sizeof data - 1, 0, reinterpret_cast<sockaddr*>(&src), &src_len);
    if (n < 0) return kExitIoError;
    data[n] = '\0';
    char reply[1400];
    size_t len = 0;
    const char* parts[] = {"instance=", pid_text, " proto=", EnvOr("PROTO", "-"), " remote=",
                           EnvOr("TCPREMOTEIP", "-"), ":", EnvOr("TCPREMOTEPORT", "-"), " local=",
                           EnvOr("TCPLOCALIP", "-"), ":", EnvOr("TCPLOCALPORT", "-"), " got=",
                           data};
    for (const char* part : parts) Append(reply, sizeof reply, &len, part);
    if (sendto(0, reply, len, 0, reinterpret_cast<sockaddr*>(&src), src_len) < 0) {
      return kExitIoError;
    }
  }
  return kExitOk;
}

// The classic echo service as any program would write it: what two of them
// (or one and another host's) do when one datagram is spoofed between them
// is what hinetd's loop rules are for.
int EchoUdp(long count) {
  for (long served = 0; served < count; ++served) {
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 3000) != 1) return kExitOk;  // idle: done
    char data[2048];
    sockaddr_storage src{};
    socklen_t src_len = sizeof src;
    ssize_t n = recvfrom(0, data, sizeof data, 0, reinterpret_cast<sockaddr*>(&src), &src_len);
    if (n < 0 && errno == ECONNREFUSED) continue;  // an earlier reply found nobody
    if (n < 0) return kExitIoError;
    if (sendto(0, data, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&src), src_len) < 0 &&
        errno != ECONNREFUSED) {
      return kExitIoError;
    }
  }
  return kExitOk;
}

// A nowait child that answers once and then leaves its socket set up to
// hurt whichever child gets it next (see the usage above).
int TaintUdp(const char* how) {
  bool lock = strcmp(how, "lock") == 0;
  if (!lock && strcmp(how, "open") != 0) return Usage();
  pollfd p{0, POLLIN, 0};
  if (poll(&p, 1, 3000) != 1) return kExitOk;
  char data[512];
  sockaddr_storage src{};
  socklen_t src_len = sizeof src;
  ssize_t n = recvfrom(0, data, sizeof data - 1, 0, reinterpret_cast<sockaddr*>(&src), &src_len);
  if (n < 0) return kExitIoError;
  data[n] = '\0';
  timeval timeout{};
  socklen_t len = sizeof timeout;
  int rcvbuf = 0;
  socklen_t buf_len = sizeof rcvbuf;
  if (getsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &timeout, &len) != 0 ||
      getsockopt(0, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &buf_len) != 0) {
    return kExitIoError;
  }
  // SO_GET_FILTER answers the attached filter's length in instructions
  // (0: none) when given no room for it.
  socklen_t filter_len = 0;
  if (getsockopt(0, SOL_SOCKET, SO_GET_FILTER, nullptr, &filter_len) != 0) return kExitIoError;
  char t[24], b[24], f[24];
  FormatPid(t, sizeof t, static_cast<long>(timeout.tv_sec * 1000000 + timeout.tv_usec));
  FormatPid(b, sizeof b, static_cast<long>(rcvbuf));
  FormatPid(f, sizeof f, static_cast<long>(filter_len));
  char reply[700];
  size_t out = 0;
  const char* parts[] = {"rcvtimeo_us=", t, " rcvbuf=", b, " filter=", f, " got=", data};
  for (const char* part : parts) Append(reply, sizeof reply, &out, part);
  if (sendto(0, reply, out, 0, reinterpret_cast<sockaddr*>(&src), src_len) < 0) {
    return kExitIoError;
  }
  timeval ms{0, 1000};
  int tiny = 1;
  sock_filter drop{BPF_RET | BPF_K, 0, 0, 0};
  sock_fprog prog{1, &drop};
  int one = 1;
  if (setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &ms, sizeof ms) != 0 ||
      setsockopt(0, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny) != 0 ||
      setsockopt(0, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0 ||
      (lock && setsockopt(0, SOL_SOCKET, SO_LOCK_FILTER, &one, sizeof one) != 0)) {
    return kExitIoError;
  }
  return kExitOk;
}

// A wait child that answers once and then damages the socket it shares with
// hinetd: what hinetd must repair, or at least survive.
int SpoilUdp(const char* how) {
  bool do_connect = strcmp(how, "connect") == 0;
  if (!do_connect && strcmp(how, "shutdown") != 0) return Usage();
  pollfd p{0, POLLIN, 0};
  if (poll(&p, 1, 3000) != 1) return kExitOk;
  char data[512];
  sockaddr_storage src{};
  socklen_t src_len = sizeof src;
  ssize_t n = recvfrom(0, data, sizeof data, 0, reinterpret_cast<sockaddr*>(&src), &src_len);
  if (n < 0) return kExitIoError;
  if (sendto(0, data, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&src), src_len) < 0) {
    return kExitIoError;
  }
  int rc = do_connect ? connect(0, reinterpret_cast<sockaddr*>(&src), src_len)
                      : shutdown(0, SHUT_RDWR);
  // shutdown() of an unconnected datagram socket says ENOTCONN, and shuts
  // it down all the same.
  if (rc != 0 && !(errno == ENOTCONN && !do_connect)) return kExitIoError;
  return kExitOk;
}

// Entries of `dir` other than "." and "..", read with getdents64 directly
// (no opendir: no heap in this program).
long CountEntries(const char* dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  long count = 0;
  alignas(8) char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const char* name = buf + off + 19;  // d_ino(8) d_off(8) d_reclen(2) d_type(1)
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      if (!(name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))) ++count;
      off += reclen;
    }
  }
  close(fd);
  return count;
}

int Concurrency(const char* dir, long hold_ms) {
  char pid_text[24];
  FormatPid(pid_text, sizeof pid_text, static_cast<long>(g_instance));
  char path[512];
  size_t len = 0;
  Append(path, sizeof path, &len, dir);
  Append(path, sizeof path, &len, "/");
  Append(path, sizeof path, &len, pid_text);
  path[len] = '\0';
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return kExitIoError;
  close(fd);
  long count = CountEntries(dir);
  char line[64];
  size_t n = 0;
  char count_text[24];
  FormatPid(count_text, sizeof count_text, count < 0 ? 0 : count);
  Append(line, sizeof line, &n, "concurrency=");
  Append(line, sizeof line, &n, count_text);
  Append(line, sizeof line, &n, "\n");
  bool ok = count >= 0 && WriteAll(kOut, line, n);
  timespec ts{hold_ms / 1000, (hold_ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  unlink(path);
  return ok ? kExitOk : kExitIoError;
}

int IgnoreTermAndSleep(long seconds) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  if (sigaction(SIGTERM, &ignore, nullptr) != 0) return kExitIoError;
  return Sleep(seconds);
}

// --- Attacks (tests/attack) ---

// "key=ok" for a call that returned rc >= 0, else "key=err:ENAME" (err is
// the errno the call left).
void ReportResult(const char* key, long rc, int err) {
  Report& r = g_report;
  r.Key(key);
  if (rc < 0) {
    r.Errno(err);
  } else {
    r.Str("ok");
  }
  r.End();
}

// Waits (at most 5 s per byte) for "N\n" on fd 0: a number the test learns
// only after the service started, such as another child's pid.
bool ReadNumberLine(long* value) {
  char buf[24];
  size_t len = 0;
  while (len < sizeof buf - 1) {
    pollfd p{kIn, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return false;
    ssize_t n = read(kIn, buf + len, 1);  // one byte: nothing past the line is taken
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    if (buf[len] == '\n') {
      buf[len] = '\0';
      return ParseNumber(buf, 1L << 30, value);
    }
    ++len;
  }
  return false;
}

// Returns once fd 0 reads EOF (or fails): the test ends a mode that holds
// its processes by shutting down its side of the connection.
int UntilEof() {
  char buf[256];
  for (;;) {
    ssize_t n = read(kIn, buf, sizeof buf);
    if (n == 0) return kExitOk;
    if (n < 0 && errno != EINTR) return kExitOk;
  }
}

int Daemonize(long count) {
  g_report.Flush();  // nothing buffered may be copied into the children
  pid_t first = fork();
  if (first < 0) {
    ReportResult("fork", -1, errno);
    g_report.Flush();
    return kExitOk;
  }
  if (first == 0) {
    setsid();
    for (long i = 0; i < count; ++i) {
      if (fork() != 0) continue;
      // A grandchild: not a group leader, so setsid() makes a session of
      // its own, out of reach of a kill of any process group above.
      pid_t sid = setsid();
      g_report.Key("grandchild").Dec(getpid()).Str(" sid=").Dec(sid).End().Flush();
      Sleep(600);
      _exit(kExitOk);
    }
    _exit(kExitOk);
  }
  int status = 0;
  while (wait4(first, &status, 0, nullptr) < 0 && errno == EINTR) {
  }
  g_report.Key("daemonized").Dec(count).End().Flush();
  return UntilEof();
}

// A forbidden syscall made by a process hinetd did not start: a forked
// child (`grandchild-syscall`), which the probe then reaps at once, or a
// daemon after a double fork and setsid (`daemon-syscall`), which the
// probe, the init of its PID namespace, adopts and reaps (outside one, the
// daemon is nobody's child of ours). Each killed process first reports its
// pid as it sees it: "victim=PID". The probe ends with "end=1" once every
// process of its own is reaped.
int ForbiddenSyscallElsewhere(const char* name, bool daemon, bool late = false) {
  g_report.Flush();  // nothing buffered may be copied into the children
  pid_t first = fork();
  if (first < 0) {
    ReportResult("fork", -1, errno);
    g_report.Flush();
    return kExitOk;
  }
  if (first == 0) {
    if (daemon) {
      setsid();
      pid_t second = fork();
      if (second != 0) _exit(kExitOk);
      setsid();
    }
    g_report.Key("victim").Dec(getpid()).End().Flush();
    if (late) {
      char go = 0;
      while (read(0, &go, 1) < 0 && errno == EINTR) {
      }
    }
    TryForbiddenSyscall(name);
    _exit(kExitOk);
  }
  // Every child, adopted ones included, until there is none (bounded: a
  // child of ours dies at its forbidden syscall).
  int status = 0;
  for (int i = 0; i < 64; ++i) {
    pid_t done = wait4(-1, &status, 0, nullptr);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) break;
    if (done == first && !daemon) {
      g_report.Key("victim_status").Str(WIFSIGNALED(status) ? "signal:" : "exit:")
          .Dec(WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status)).End();
    }
  }
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

// syslog(3) as a legacy inetd program uses it: openlog with the pid, then
// `count` messages "TEXT I" at LOG_ERR, facility daemon.
int Syslog(long count, const char* text) {
  openlog("probe", LOG_PID, LOG_DAEMON);
  for (long i = 0; i < count; ++i) syslog(LOG_ERR, "%s %ld", text, i);
  closelog();
  g_report.Key("syslog").Dec(count).End().Key("end").Dec(1).End().Flush();
  return kExitOk;
}

int ForkBomb() {
  g_report.Flush();
  long forks = 0;
  int err = 0;
  for (; forks < 10000; ++forks) {
    pid_t pid = fork();
    if (pid == 0) {
      Sleep(600);
      _exit(kExitOk);
    }
    if (pid < 0) {
      err = errno;
      break;
    }
  }
  g_report.Key("forks").Dec(forks).End();
  ReportResult("fork_error", err != 0 ? -1 : 0, err);
  g_report.Flush();
  return UntilEof();
}

int KillOther() {
  long pid = 0;
  if (!ReadNumberLine(&pid) || pid <= 1) return Usage();
  long rc = kill(static_cast<pid_t>(pid), SIGKILL);
  ReportResult("kill_pid", rc, errno);
  rc = kill(static_cast<pid_t>(-pid), SIGKILL);
  ReportResult("kill_group", rc, errno);
  rc = kill(-1, SIGKILL);
  ReportResult("kill_all", rc, errno);
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

int Steal() {
  long pid = 0;
  if (!ReadNumberLine(&pid) || pid <= 0) return Usage();
  long pidfd = syscall(SYS_pidfd_open, pid, 0);
  ReportResult("pidfd_open", pidfd, errno);
  if (pidfd >= 0) {
    long fd = syscall(SYS_pidfd_getfd, pidfd, 0, 0);
    ReportResult("pidfd_getfd", fd, errno);
  }
  char buf[8];
  iovec local{buf, sizeof buf};
  iovec remote{buf, sizeof buf};  // an address of ours; the other's layout differs
  long rc = process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0);
  ReportResult("process_vm_readv", rc, errno);
  long self = syscall(SYS_pidfd_open, getpid(), 0);
  ReportResult("pidfd_open_self", self, errno);
  if (self >= 0) {
    long fd = syscall(SYS_pidfd_getfd, self, 0, 0);
    ReportResult("pidfd_getfd_self", fd, errno);
  }
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

// Opens /proc/<pid>/<name> with `flags` (the kernel decides there, with
// the rules of ptrace) and, with `read_one`, reads a byte of it.
void ReportProcFile(const char* key, long pid, const char* name, int flags, bool read_one) {
  char path[64];
  size_t len = 0;
  char digits[24];
  FormatPid(digits, sizeof digits, pid);
  Append(path, sizeof path, &len, "/proc/");
  Append(path, sizeof path, &len, digits);
  Append(path, sizeof path, &len, "/");
  Append(path, sizeof path, &len, name);
  path[len] = '\0';
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) {
    ReportResult(key, -1, errno);
    return;
  }
  char byte;
  long n = read_one ? read(fd, &byte, 1) : 0;
  ReportResult(key, n, errno);
  close(fd);
}

int ProcFiles() {
  long pid = 0;
  if (!ReadNumberLine(&pid) || pid <= 0) return Usage();
  ReportProcFile("proc_mem", pid, "mem", O_RDWR, false);
  ReportProcFile("proc_environ", pid, "environ", O_RDONLY, true);
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

int UdpLeftover(long seconds) {
  int rc = ServeUdp(1);
  pid_t first = fork();
  if (first == 0) {
    setsid();
    if (fork() == 0) {
      static char sink[65536];
      int64_t end = MonotonicMs() + seconds * 1000L;
      for (long left = seconds * 1000L; left > 0; left = end - MonotonicMs()) {
        pollfd p{kIn, POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) == 1) {
          // A moment later than hinetd's listener, which wakes too: about
          // when the monitor looks at the datagram the listener saw.
          timespec later{0, 100000};
          nanosleep(&later, nullptr);
          ssize_t ignored = recv(kIn, sink, sizeof sink, MSG_DONTWAIT);
          (void)ignored;
        }
      }
    }
    _exit(kExitOk);
  }
  if (first > 0) waitpid(first, nullptr, 0);
  return rc;
}

// "userns=user:[INODE]", the user namespace this process is in.
void ReportUserNamespace() {
  char link[64];
  ssize_t n = readlink("/proc/self/ns/user", link, sizeof link - 1);
  g_report.Key("userns");
  if (n < 0) {
    g_report.Errno(errno);
  } else {
    link[n] = '\0';
    g_report.Str(link);
  }
  g_report.End();
}

// The kernel's struct clone_args up to CLONE_ARGS_SIZE_VER0 (linux/sched.h,
// whose macros clash with the C library's).
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

int Terminal() {
  long fd = syscall(SYS_openat, AT_FDCWD, "/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  ReportResult("tty_open", fd, errno);
  if (fd >= 0) close(static_cast<int>(fd));
  g_report.Key("sid").Dec(getsid(0)).End();
  g_report.Key("pgid").Dec(getpgid(0)).End();
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

// A service with a thread: what the thread does is the service's too.
void* ThreadMain(void* result) {
  struct sysinfo info;
  long rc = syscall(SYS_sysinfo, &info);
  *static_cast<int*>(result) = rc == 0 ? 0 : errno;
  return nullptr;
}

int Thread() {
  int err = -1;
  pthread_t t;
  int rc = pthread_create(&t, nullptr, ThreadMain, &err);
  if (rc != 0) {
    ReportResult("thread_create", -1, rc);
  } else {
    pthread_join(t, nullptr);
    ReportResult("thread_sysinfo", err == 0 ? 0 : -1, err);
  }
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

// Options no kernel has: EINVAL each, and each a value of prctl's option.
int PrctlSweep(long count) {
  for (long i = 0; i < count; ++i) {
    (void)syscall(SYS_prctl, 0x7fff0000L + i, 0L, 0L, 0L, 0L);
  }
  g_report.Key("swept").Dec(count).End();
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

int UserNamespace() {
  g_report.Flush();
  // Without a stack of its own the child goes on on a copy of this one,
  // like fork(); should the call succeed, it leaves at once.
  long rc = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (rc == 0) _exit(kExitOk);
  ReportResult("clone_newuser", rc, errno);
  if (rc > 0) waitpid(static_cast<pid_t>(rc), nullptr, 0);
  CloneArgs args{};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  rc = syscall(SYS_clone3, &args, sizeof args);
  if (rc == 0) _exit(kExitOk);
  ReportResult("clone3_newuser", rc, errno);
  if (rc > 0) waitpid(static_cast<pid_t>(rc), nullptr, 0);
  ReportCapSets();
  ReportUserNamespace();
  // Last: a policy that does not allow unshare kills here.
  g_report.Flush();
  rc = syscall(SYS_unshare, CLONE_NEWUSER);
  ReportResult("unshare_newuser", rc, errno);
  ReportCapSets();
  ReportUserNamespace();
  g_report.Key("end").Dec(1).End().Flush();
  return kExitOk;
}

// A service under drops_privileges that tries to become someone else, or
// to leave its jail (tests/attack/identity_test.cc). `host_file` is a path
// outside the jail that its uid could read there. Reports each attempt,
// then waits for its connection to close (the test attacks it meanwhile).
int Identity(const char* host_file) {
  // errno read after the call (an argument list has no order).
  auto result = [](const char* key, long rc) { ReportResult(key, rc, errno); };
  uid_t uid = getuid();
  gid_t gid = getgid();
  // What a program that drops privileges does, and may: its own ids.
  gid_t own[1] = {gid};
  result("setgroups_own", syscall(SYS_setgroups, 1, own));
  result("setresgid_own", syscall(SYS_setresgid, gid, gid, gid));
  result("setresuid_own", syscall(SYS_setresuid, uid, uid, uid));
  // Anyone else.
  result("setuid_0", syscall(SYS_setuid, 0));
  result("setresuid_0", syscall(SYS_setresuid, 0, 0, 0));
  result("setgid_0", syscall(SYS_setgid, 0));
  result("setuid_other", syscall(SYS_setuid, uid + 1));
  gid_t root_group[1] = {0};
  result("setgroups_0", syscall(SYS_setgroups, 1, root_group));
  gid_t other_group[1] = {gid + 1};
  result("setgroups_other", syscall(SYS_setgroups, 1, other_group));
  // Its user namespace's maps, written already (and by root).
  int map = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
  long wrote = -1;
  int map_err = errno;
  if (map >= 0) {
    const char line[] = "0 0 1\n";
    wrote = write(map, line, sizeof line - 1);
    map_err = errno;
    close(map);
  }
  ReportResult("write_uid_map", wrote, map_err);
  g_report.Flush();
  result("unshare_newuser", syscall(SYS_unshare, CLONE_NEWUSER));
  result("unshare_newns", syscall(SYS_unshare, CLONE_NEWNS));
  result("setns", syscall(SYS_setns, 0, 0));
  result("umount_root", syscall(SYS_umount2, "/", MNT_DETACH));
  result("mount_bind", syscall(SYS_mount, "/", "/", nullptr, MS_BIND | MS_REC, nullptr));
  // The classic chroot escape: a chroot below the cwd, then ".." up past
  // it (the cwd is outside the new root, so nothing stops the walk but the
  // mount namespace's root), then chroot there.
  result("mkdir", mkdir("escape", 0700) == 0 || errno == EEXIST ? 0 : -1);
  result("chroot_sub", syscall(SYS_chroot, "escape"));
  for (int i = 0; i < 64; ++i) {
    if (chdir("..") != 0) break;
  }
  result("chroot_dot", syscall(SYS_chroot, "."));
  int fd = open(host_file, O_RDONLY | O_CLOEXEC);
  result("host_file", fd);  // errno untouched since open
  if (fd >= 0) close(fd);
  result("jail_probe", access("/probe", X_OK));  // still in the jail
  // Who it is at the end.
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  getresuid(&ru, &eu, &su);
  getresgid(&rg, &eg, &sg);
  g_report.Key("resuid").Dec(ru).Char(',').Dec(eu).Char(',').Dec(su).End();
  g_report.Key("resgid").Dec(rg).Char(',').Dec(eg).Char(',').Dec(sg).End();
  ReportCapSets();
  char status[4096];
  long n = -1;
  int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);  // where the jail has /proc
  if (sfd >= 0) {
    n = read(sfd, status, sizeof status - 1);
    close(sfd);
  }
  if (n >= 0) status[n] = '\0';
  g_report.Key("status_cap_eff");
  const char* eff = n > 0 ? strstr(status, "CapEff:\t") : nullptr;
  if (eff == nullptr) {
    g_report.Str("<none>");
  } else {
    eff += 8;
    const char* nl = strchr(eff, '\n');
    for (const char* p = eff; p < (nl != nullptr ? nl : eff + 16); ++p) g_report.Char(*p);
  }
  g_report.End();
  g_report.Key("pid").Dec(getpid()).End();
  g_report.Key("end").Dec(1).End().Flush();
  char sink[256];
  while (read(kIn, sink, sizeof sink) > 0) {
  }
  return kExitOk;
}

// "ifaces=NAME:up|down,...": every interface of this network namespace,
// by index (SIOCGIFNAME), without netlink or /proc.
void ReportInterfaces() {
  Report& r = g_report;
  r.Key("ifaces");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    r.Errno(errno).End();
    return;
  }
  bool first = true;
  for (int index = 1; index <= 256; ++index) {
    ifreq ifr{};
    ifr.ifr_ifindex = index;
    if (ioctl(s, SIOCGIFNAME, &ifr) != 0) continue;
    bool up = ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP) != 0;
    ifr.ifr_name[IFNAMSIZ - 1] = '\0';
    r.Comma(&first).Str(ifr.ifr_name).Str(up ? ":up" : ":down");
  }
  close(s);
  r.End();
}

int Namespaces(long port, long key) {
  Report& r = g_report;
  utsname u{};
  r.Key("hostname");
  if (uname(&u) != 0) {
    r.Errno(errno);
  } else {
    r.Str(u.nodename);
  }
  r.End();
  ReportInterfaces();
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0) {
    ReportResult("connect", -1, errno);
  } else {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<uint16_t>(port));
    long rc = connect(c, reinterpret_cast<sockaddr*>(&to), sizeof to);
    ReportResult("connect", rc, errno);
    close(c);
  }
  long q = msgget(static_cast<key_t>(key), 0);
  ReportResult("msgget", q, errno);
  r.Key("end").Dec(1).End().Flush();
  return Echo();
}

}  // namespace

int main(int argc, char** argv) {
  InitInstance(&argc);
  if (argc == 1) {
    WriteReport(argc, argv);
    return kExitOk;
  }
  const char* mode = argv[1];
  if (strcmp(mode, "echo") == 0 && argc == 2) {
    WriteReport(argc, argv);
    return Echo();
  }
  if (strcmp(mode, "concurrency") == 0 && argc == 4) {
    long hold = 0;
    if (!ParseNumber(argv[3], 60000, &hold)) return Usage();
    return Concurrency(argv[2], hold);
  }
  if (argc == 2) {
    if (strcmp(mode, "fork-bomb") == 0) return ForkBomb();
    if (strcmp(mode, "kill-other") == 0) return KillOther();
    if (strcmp(mode, "steal") == 0) return Steal();
    if (strcmp(mode, "proc") == 0) return ProcFiles();
    if (strcmp(mode, "userns") == 0) return UserNamespace();
    if (strcmp(mode, "tty") == 0) return Terminal();
    if (strcmp(mode, "thread") == 0) return Thread();
  }
  if (strcmp(mode, "netns") == 0 && argc == 4) {
    long port = 0;
    long key = 0;
    if (!ParseNumber(argv[2], 65535, &port) || !ParseNumber(argv[3], 0x7fffffff, &key)) {
      return Usage();
    }
    return Namespaces(port, key);
  }
  if (strcmp(mode, "identity") == 0 && argc == 3) return Identity(argv[2]);
  if (strcmp(mode, "syslog") == 0 && argc == 4) {
    long count = 0;
    if (!ParseNumber(argv[2], 100000, &count)) return Usage();
    return Syslog(count, argv[3]);
  }
  if (argc != 3) return Usage();
  const char* arg = argv[2];
  long number = 0;
  if (strcmp(mode, "exit") == 0) {
    if (!ParseNumber(arg, 255, &number)) return Usage();
    _exit(static_cast<int>(number));
  }
  if (strcmp(mode, "syscall") == 0 && IsForbiddenSyscallName(arg)) {
    WriteReport(argc, argv);
    return TryForbiddenSyscall(arg);
  }
  if ((strcmp(mode, "grandchild-syscall") == 0 || strcmp(mode, "daemon-syscall") == 0) &&
      IsForbiddenSyscallName(arg)) {
    return ForbiddenSyscallElsewhere(arg, mode[0] == 'd');
  }
  if (strcmp(mode, "late-daemon-syscall") == 0 && IsForbiddenSyscallName(arg)) {
    return ForbiddenSyscallElsewhere(arg, /*daemon=*/true, /*late=*/true);
  }
  if (strcmp(mode, "sleep") == 0 && ParseNumber(arg, 1L << 30, &number)) {
    WriteReport(argc, argv);
    return Sleep(number);
  }
  if (strcmp(mode, "stderr") == 0) {
    WriteReport(argc, argv);
    return WriteStderr(arg);
  }
  if (strcmp(mode, "stderr-bytes") == 0) return WriteStderrBytes(arg);
  if (strcmp(mode, "stderr-flood") == 0 && ParseNumber(arg, 60000, &number)) {
    return FloodStderr(number);
  }
  if (strcmp(mode, "udp") == 0 && ParseNumber(arg, 1L << 30, &number)) {
    return ServeUdp(number);
  }
  if (strcmp(mode, "udp-echo") == 0 && ParseNumber(arg, 1L << 30, &number)) {
    return EchoUdp(number);
  }
  if (strcmp(mode, "udp-spoil") == 0) return SpoilUdp(arg);
  if (strcmp(mode, "udp-taint") == 0) return TaintUdp(arg);
  if (strcmp(mode, "prctl-sweep") == 0 && ParseNumber(arg, 100000, &number)) {
    return PrctlSweep(number);
  }
  if (strcmp(mode, "udp-leftover") == 0 && ParseNumber(arg, 3600, &number)) {
    return UdpLeftover(number);
  }
  if (strcmp(mode, "daemonize") == 0 && ParseNumber(arg, 1000, &number)) {
    return Daemonize(number);
  }
  if (strcmp(mode, "ignore-term") == 0 && ParseNumber(arg, 1L << 30, &number)) {
    WriteReport(argc, argv);
    return IgnoreTermAndSleep(number);
  }
  return Usage();
}
