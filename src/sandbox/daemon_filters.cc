#include "sandbox/daemon_filters.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <initializer_list>

#include "sandbox/syscall_args.h"

namespace hinetd::sandbox {

using base::Error;
using base::Result;

namespace {

struct CtxDeleter {
  void operator()(void* c) const { seccomp_release(c); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// One allowed syscall: allowed outright (no alternatives), or when the
// arguments match any one of the alternatives (each a conjunction).
struct Allowed {
  const char* name;
  std::vector<std::vector<scmp_arg_cmp>> when;
};

// int arguments: the kernel reads only their low 32 bits.
scmp_arg_cmp Eq(unsigned arg, uint32_t value) { return SCMP_CMP32(arg, SCMP_CMP_EQ, value); }
// (argument & mask) == value, on the low 32 bits.
scmp_arg_cmp Masked(unsigned arg, uint32_t mask, uint32_t value) {
  return SCMP_CMP32(arg, SCMP_CMP_MASKED_EQ, mask, value);
}

// Flags socket() takes in its type argument besides the type itself.
constexpr uint32_t kTypeFlags = SOCK_CLOEXEC | SOCK_NONBLOCK;

// What the listener does after its filter is installed, and nothing more
// (each entry checked against `strace -f` of the real daemon: TCP, UNIX,
// UDP wait and nowait, refusals, SIGHUP, SIGUSR1, SIGSTOP/SIGCONT, a killed
// listener, stop; with --log stderr and --log syslog). Everything before
// the filter (close_range, chroot, the id and capability changes, signalfd,
// epoll_create1) needs no entry here. It logs with write() alone: to
// stderr, or one message per line to the monitor's relay (its root is
// empty, syslog's /dev/log out of reach), so no AF_UNIX socket and no
// sendto.
const std::vector<Allowed>& ListenerRules() {
  static const std::vector<Allowed> kRules = {
      // The event loop. glibc's epoll_wait() and poll() use these where the
      // architecture has them (x86_64), else epoll_pwait and ppoll (arm64).
#ifdef __NR_epoll_wait
      {"epoll_wait", {}},  // the loop's only wait
#else
      {"epoll_pwait", {}},
#endif
      {"epoll_ctl", {}},  // watch and unwatch sockets and the control channel
      {"read", {}},       // the signalfd (TERM, INT), the monitor's doorbell (an eventfd)
      {"write", {}},      // log lines: to stderr, or to the monitor's relay
      {"close", {}},      // refused connections, handed-over and queued descriptors
      // Nonblocking mode back on a wait socket after its child (F_GETFL,
      // F_SETFL); a queued spawn request's own copy of its descriptors
      // (F_DUPFD_CLOEXEC). No locks, leases, owners or signals.
      {"fcntl", {{Eq(1, F_GETFL)}, {Eq(1, F_SETFL)}, {Eq(1, F_DUPFD_CLOEXEC)}}},
      {"clock_gettime", {}},  // the vDSO's fallback on a clock source it cannot read
      // The kernel resumes a poll() with a timeout that a stop signal
      // interrupted (SIGSTOP, then SIGCONT) with restart_syscall.
      {"restart_syscall", {}},
      // Room in the control channel before exiting; a wait socket's state
      // after its child (shut down or not).
#ifdef __NR_poll
      {"poll", {}},
#else
      {"ppoll", {}},
#endif
      // Connections and datagrams.
      {"accept4", {}},   // TCP and UNIX stream connections
      {"recvmsg", {}},   // peeking at a datagram; messages from the monitor
      // Messages from the monitor, up to four a call (Channel::RecvSome),
      // never waiting. (The timeout, a pointer, is not read with
      // MSG_DONTWAIT for anything but a deadline between messages.)
      {"recvmmsg", {{Eq(2, 4), Eq(3, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)}}},
      {"recvfrom", {}},  // recv(): dropping a refused datagram
      // SO_PEERCRED: the client of a unix: socket; SO_ERROR: clearing a wait
      // socket's pending error after its child.
      {"getsockopt",
       {{Eq(1, SOL_SOCKET), Eq(2, SO_PEERCRED)}, {Eq(1, SOL_SOCKET), Eq(2, SO_ERROR)}}},
      // udp nowait: a fresh datagram socket on the service's address (its
      // bind below 1024 is why the listener keeps CAP_NET_BIND_SERVICE).
      // No other domain (unix, netlink, packet, ...), type or protocol.
      {"socket",
       {{Eq(0, AF_INET), Masked(1, ~kTypeFlags, SOCK_DGRAM), Eq(2, 0)},
        {Eq(0, AF_INET6), Masked(1, ~kTypeFlags, SOCK_DGRAM), Eq(2, 0)}}},
      // The options net::BindListener sets on a UDP socket, and only those.
      {"setsockopt",
       {{Eq(1, SOL_SOCKET), Eq(2, SO_REUSEPORT)},
        {Eq(1, IPPROTO_IPV6), Eq(2, IPV6_V6ONLY)},
        {Eq(1, IPPROTO_IP), Eq(2, IP_PKTINFO)},
        {Eq(1, IPPROTO_IPV6), Eq(2, IPV6_RECVPKTINFO)}}},
      {"bind", {}},  // the fresh udp nowait socket (the address is behind a pointer)
      // The old udp nowait socket to its peer, a wait socket back to no peer
      // (AF_UNSPEC). The address is behind a pointer; the kernel checks it
      // against the socket's own domain, and socket() above limits the
      // domains this process can create to IP. (The unix sockets it holds
      // are listening, accepted or already connected: connect() fails on
      // each; and its root is empty.)
      {"connect", {}},
      // Spawn requests and descriptors to the monitor. (A destination would
      // be inside the msghdr, which no filter can read: a subverted listener
      // can send a datagram from a UDP socket it holds, as a UDP service
      // can from its own, but to no unix socket: every one it holds is
      // connected or listening, and it can create none.)
      {"sendmsg", {}},
      // The C library's heap: brk, and mmap/munmap for large blocks or when
      // brk fails; never an executable mapping. (No mprotect: glibc calls it
      // only for the heaps of other threads, and this process has one.)
      {"brk", {}},
      {"mmap", {{Masked(2, PROT_EXEC, 0)}}},
      {"munmap", {}},
      // glibc.malloc.hugetlb=1 (GLIBC_TUNABLES): malloc advises huge pages.
      {"madvise", {{Eq(2, MADV_HUGEPAGE)}}},
      // pthread_once() wakes waiters unconditionally when it has run the
      // initialisation (the first std::ostringstream's locale, at a reload
      // handover); single-threaded, nothing ever waits.
      {"futex", {{Eq(1, FUTEX_WAKE_PRIVATE)}}},
      {"getpid", {}},      // the listener-ready line
      {"exit_group", {}},  // _exit()
#ifdef HINETD_SANITIZE
      // The test build with AddressSanitizer (HINETD_SANITIZE, never
      // installed): its runtime sets and clears an alternate signal stack
      // around the process's end, and a filter that killed it there would
      // hide every report.
      {"sigaltstack", {}},
#endif
  };
  return kRules;
}

Result<Ctx> NewContext(uint32_t default_action) {
  Ctx ctx(seccomp_init(default_action));
  if (!ctx) return Error("libseccomp: seccomp_init failed");
  // Another architecture's syscall interface (i386 or x32 on x86_64) is a
  // way around any filter: it kills. no_new_privs is set by the caller.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc == 0) rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc != 0) return base::ErrnoError("libseccomp: filter attributes", -rc);
  return ctx;
}

}  // namespace

std::vector<std::string> ListenerSyscalls() {
  std::vector<std::string> names;
  for (const auto& rule : ListenerRules()) names.emplace_back(rule.name);
  return names;
}

Result<std::unique_ptr<BpfProgram>> ListenerFilter() {
  auto ctx = NewContext(SCMP_ACT_KILL_PROCESS);
  if (!ctx.ok()) return ctx.error();
  for (const auto& rule : ListenerRules()) {
    int nr = NativeSyscallNumber(rule.name);
    if (nr < 0) return Error(std::string("the listener's filter: no system call ") + rule.name);
    std::vector<std::vector<scmp_arg_cmp>> alternatives = rule.when;
    if (alternatives.empty()) alternatives.emplace_back();
    for (const auto& cmps : alternatives) {
      int rc = seccomp_rule_add_exact_array(ctx->get(), SCMP_ACT_ALLOW, nr,
                                            static_cast<unsigned>(cmps.size()), cmps.data());
      if (rc != 0) {
        return base::ErrnoError(std::string("libseccomp: listener rule for ") + rule.name, -rc);
      }
    }
  }
  return ExportBpf(ctx->get(), "the listener's filter");
}

const std::vector<std::string>& MonitorDenyList() {
  static const std::vector<std::string> kDenied = {
      "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
      "fsconfig", "fspick", "mount_setattr", "init_module", "finit_module", "delete_module",
      "kexec_load", "kexec_file_load", "bpf", "perf_event_open", "ptrace", "process_vm_readv",
      "process_vm_writev", "pidfd_getfd", "kcmp", "keyctl", "add_key", "request_key", "setns",
      "unshare", "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd",
      "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "lookup_dcookie",
      "name_to_handle_at", "open_by_handle_at", "iopl", "ioperm", "uselib", "personality",
      "vhangup"};
  return kDenied;
}

uint64_t MonitorCloneNamespaces() {
  return CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
}

uint64_t AllCloneNamespaces() {
  return CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNET |
         CLONE_NEWIPC | CLONE_NEWUTS;
}

namespace {

// clone() with any of `flags` fails with EPERM: one rule per bit, as a
// filter can test a masked value for equality only. clone3() takes its flags
// behind a pointer, which no filter can read: it fails with ENOSYS, and the C
// library falls back to clone(), whose flags are checked here.
base::Status DenyCloneFlags(void* ctx, uint64_t flags) {
  for (uint64_t bit = 1; bit != 0 && bit <= flags; bit <<= 1) {
    if ((flags & bit) == 0) continue;
    // clone()'s flags are an unsigned long; CLONE_NEW* are all in the low 32 bits.
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0_64(SCMP_CMP_MASKED_EQ, bit, bit));
    if (rc != 0) return base::ErrnoError("libseccomp: rule for clone", -rc);
  }
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  if (rc != 0) return base::ErrnoError("libseccomp: rule for clone3", -rc);
  return base::Status();
}

}  // namespace

namespace {

// setns() fails with EPERM unless its nstype is exactly CLONE_NEWUSER or
// CLONE_NEWNS: what a drops_privileges child does (spawn/identity_ns.h).
// One rule per other bit, and one for nstype 0 (any type).
base::Status DenySetnsExceptUserAndMount(void* ctx) {
  constexpr uint32_t kAllowed = CLONE_NEWUSER | CLONE_NEWNS;
  int nr = NativeSyscallNumber("setns");
  if (nr < 0) return base::Status();
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if ((kAllowed & bit) != 0) continue;
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, Masked(1, bit, bit));
    if (rc != 0) return base::ErrnoError("libseccomp: rule for setns", -rc);
  }
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, Eq(1, 0));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, Eq(1, kAllowed));
  if (rc != 0) return base::ErrnoError("libseccomp: rule for setns", -rc);
  return base::Status();
}

Result<std::unique_ptr<BpfProgram>> DenyListFilter(const std::vector<std::string>& except,
                                                   const char* what) {
  // Default allow: built directly with libseccomp (Compile refuses an
  // allow-by-default policy, rightly, for services).
  auto ctx = NewContext(SCMP_ACT_ALLOW);
  if (!ctx.ok()) return ctx.error();
  for (const auto& name : MonitorDenyList()) {
    int nr = NativeSyscallNumber(name);
    if (nr < 0) continue;
    if (std::find(except.begin(), except.end(), name) != except.end()) continue;
    if (name == "setns") {
      if (auto s = DenySetnsExceptUserAndMount(ctx->get()); !s.ok()) return s.error();
      continue;
    }
    int rc = seccomp_rule_add(ctx->get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) return base::ErrnoError("libseccomp: rule for " + name, -rc);
  }
  // The monitor itself creates the namespaces of its children (PID, and
  // network, IPC, UTS where a service asks), never a user, mount or cgroup
  // namespace: those it refuses to itself and to everything below it.
  if (auto s = DenyCloneFlags(ctx->get(), AllCloneNamespaces() & ~MonitorCloneNamespaces());
      !s.ok()) {
    return s.error();
  }
  return ExportBpf(ctx->get(), what);
}

}  // namespace

Result<std::unique_ptr<BpfProgram>> MonitorFilter() {
  return DenyListFilter({}, "the monitor's filter");
}

Result<std::unique_ptr<BpfProgram>> NamespaceMakerFilter() {
  return DenyListFilter({"unshare", "mount", "umount2", "pivot_root"},
                        "the namespace maker's filter");
}

const std::vector<BaseRefusal>& BaseLayerRefusals() {
  static const std::vector<BaseRefusal> kRefusals = [] {
    std::vector<BaseRefusal> out;
    // The deny list, setns included: the monitor lets a child join a user
    // or mount namespace, but ChildrenFilter refuses setns outright before
    // any service code runs.
    for (const auto& name : MonitorDenyList()) {
      if (NativeSyscallNumber(name) >= 0) out.push_back({name, EPERM, ""});
    }
    // ChildrenFilter: no namespace of any kind from clone (one EPERM rule
    // per flag, as DenyCloneFlags writes them), clone3 never.
    out.push_back({"clone", EPERM,
                   "clone_flags & (" + DescribeValue("clone", 0, AllCloneNamespaces()) +
                       ") != 0"});
    if (NativeSyscallNumber("clone3") >= 0) out.push_back({"clone3", ENOSYS, ""});
    std::sort(out.begin(), out.end(),
              [](const BaseRefusal& a, const BaseRefusal& b) { return a.syscall < b.syscall; });
    return out;
  }();
  return kRefusals;
}

Result<std::unique_ptr<BpfProgram>> ChildrenFilter() {
  auto ctx = NewContext(SCMP_ACT_ALLOW);
  if (!ctx.ok()) return ctx.error();
  if (auto s = DenyCloneFlags(ctx->get(), AllCloneNamespaces()); !s.ok()) return s.error();
  // The monitor's filter lets setns() through for the drops_privileges
  // children's two namespaces; no service may join any.
  if (int nr = NativeSyscallNumber("setns"); nr >= 0) {
    int rc = seccomp_rule_add(ctx->get(), SCMP_ACT_ERRNO(EPERM), nr, 0);
    if (rc != 0) return base::ErrnoError("libseccomp: rule for setns", -rc);
  }
  return ExportBpf(ctx->get(), "the children's filter");
}

}  // namespace hinetd::sandbox
