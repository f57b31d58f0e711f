// The child's steps. Read top to bottom: each step says what it must come
// after and why. Only system calls here, and raw ones (Sys below): the child
// runs in the parent's memory while the parent goes on (see child.h), so it
// must not even write errno, which lives in the parent's thread-local
// storage; glibc's wrappers would also do more than the call (set*id
// wrappers broadcast to threads, sigaction filters glibc's reserved
// signals).
#include "spawn/child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <type_traits>

// Landlock's calls have these numbers on every architecture (Linux 5.13).
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

#if HINETD_RAW_SYSCALLS
extern "C" const char hinetd_handoff_return[];  // in HandoffSendmsg
#endif

namespace hinetd::spawn {

const char* StepName(int32_t step) {
  switch (static_cast<Step>(step)) {
    case Step::kSignals: return "signals";
    case Step::kProcessGroup: return "setpgid";
    case Step::kStdio: return "stdio";
    case Step::kCloseFds: return "close-fds";
    case Step::kRlimits: return "rlimits";
    case Step::kCapBounding: return "capabilities";
    case Step::kChroot: return "chroot";
    case Step::kSetgroups: return "setgroups";
    case Step::kSetgid: return "setgid";
    case Step::kSetuid: return "setuid";
    case Step::kVerify: return "verify";
    case Step::kPdeathsig: return "pdeathsig";
    case Step::kNoNewPrivs: return "no-new-privs";
    case Step::kLandlock: return "landlock";
    case Step::kSeccomp: return "seccomp";
    case Step::kExec: return "execve";
    case Step::kNamespaces: return "namespaces";
    case Step::kKeepCaps: return "keep-capabilities";
  }
  return "unknown";
}

namespace {

// A system call that returns -errno on failure and touches no memory but
// what the call itself does.
#if HINETD_RAW_SYSCALLS
long Sys(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  return x0;
#elif defined(__riscv) && __riscv_xlen == 64
  register long a7 __asm__("a7") = nr;
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  register long a3 __asm__("a3") = d;
  register long a4 __asm__("a4") = e;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4) : "memory");
  return a0;
#endif
}
#else
// Elsewhere the spawn is vfork-style (the parent sleeps until execve), and
// errno may be written.
long Sys(long nr, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long r = syscall(nr, a, b, c, d, e);
  return r == -1 ? -errno : r;
}
#endif

template <typename T>
long A(T v) {  // an argument, as the register it goes in
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<long>(v);
  } else {
    return static_cast<long>(v);
  }
}

// The kernel's struct sigaction for rt_sigaction(2) on x86_64/aarch64.
struct KernelSigaction {
  __sighandler_t handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

[[noreturn]] void Exit(int code) {
  for (;;) Sys(SYS_exit_group, code);
}

// `ret` is a Sys result: the errno of a failure.
[[noreturn]] void Fail(const ChildSpec& s, Step step, long ret) {
  StatusReport report{static_cast<int32_t>(step), static_cast<int32_t>(-ret)};
  // Best effort: if even this write fails, the parent sees exit 125 without
  // a step.
  Sys(SYS_write, s.status_fd, A(&report), sizeof report);
  Exit(kExitSetupFailed);
}

// close_range(2) over the gaps between the fds to keep (at most six;
// those below 3 and -1 are ignored).
int CloseAllExcept(int a, int b, int c, int d, int e, int f) {
  constexpr int kN = 6;
  int keeps[kN] = {a, b, c, d, e, f};
  for (int i = 0; i < kN; ++i) {  // sorted, by hand: no library call here
    for (int j = i + 1; j < kN; ++j) {
      if (keeps[j] < keeps[i]) {
        int t = keeps[i];
        keeps[i] = keeps[j];
        keeps[j] = t;
      }
    }
  }
  unsigned next = 3;
  for (int keep : keeps) {
    if (keep < 3 || static_cast<unsigned>(keep) < next) continue;
    if (static_cast<unsigned>(keep) > next) {
      long r = Sys(SYS_close_range, next, static_cast<unsigned>(keep) - 1, 0);
      if (r != 0) return r;
    }
    next = static_cast<unsigned>(keep) + 1;
  }
  return Sys(SYS_close_range, next, ~0U, 0);
}

// dup2 without the call (not on every architecture), and without dup3's
// EINVAL when the two are the same.
long Dup2(int from, int to) {
  if (from == to) return Sys(SYS_fcntl, to, F_SETFD, 0);
  return Sys(SYS_dup3, from, to, 0);
}

// What the child hands landlock_create_ruleset(2) and landlock_add_rule(2)
// (linux/landlock.h, Linux 5.13; the ABI is stable, the header may be older
// than the kernel).
constexpr uint64_t kLandlockAccessFsRefer = 1ULL << 13;  // ABI 2 (Linux 5.19)
constexpr long kLandlockRulePathBeneath = 1;
struct LandlockPathBeneath {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

// A Landlock domain of this process's own, which restricts nothing but
// what the kernel refuses across domains (see step 14), made from
// `ruleset` (the spawner's), or from one of its own if -1.
long EnterLandlockDomain(int ruleset) {
  if (ruleset >= 0) return Sys(SYS_landlock_restrict_self, ruleset, 0);
  long own = MakeLandlockRuleset();
  if (own < 0) return own;
  long r = Sys(SYS_landlock_restrict_self, own, 0);
  Sys(SYS_close, own);
  return r < 0 ? r : 0;
}

// The capabilities a drops_privileges child keeps in its user namespace:
// what initgroups, set*id and chroot need, and nothing else.
constexpr uint32_t kIdentityCaps =
    (1U << CAP_SETGID) | (1U << CAP_SETUID) | (1U << CAP_SYS_CHROOT);
static_assert(CAP_SYS_CHROOT < 32);
constexpr int kIdentityCapList[] = {CAP_SETGID, CAP_SETUID, CAP_SYS_CHROOT};

// 1 if the effective, permitted and inheritable sets are all exactly
// `low` (capabilities 0-31) and nothing above, 0 if not, -1 on error.
int CapsAre(uint32_t low) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (Sys(SYS_capget, A(&hdr), A(data)) != 0) return -1;
  uint32_t want[2] = {low, 0};
  for (int i = 0; i < 2; ++i) {
    if (data[i].effective != want[i] || data[i].permitted != want[i] ||
        data[i].inheritable != want[i]) {
      return 0;
    }
  }
  return 1;
}

int CapsAreEmpty() { return CapsAre(0); }

#if HINETD_RAW_SYSCALLS
// sendmsg(fd, msg, MSG_NOSIGNAL) from one known place: the recording
// program (sandbox/recording.h) allows sendmsg on the recorder's socket only
// when the kernel reports hinetd_handoff_return, the label right after this
// system call instruction, as the caller's instruction pointer. The monitor
// builds the program with the label's address, and the child runs the
// monitor's own code (a clone of it, at the same addresses) until execve.
// No service code can return there: after execve the address space is the
// service's, and before it the child runs nothing but this file. noinline
// and noclone: the label must exist exactly once.
#if defined(__clang__)
[[gnu::noinline]]
#else
[[gnu::noinline, gnu::noclone]]
#endif
long HandoffSendmsg(long fd, const msghdr* msg) {
#if defined(__x86_64__)
  long ret;
  register long r10 __asm__("r10") = 0;
  __asm__ volatile(
      "syscall\n"
      ".globl hinetd_handoff_return\n"
      "hinetd_handoff_return:\n"
      : "=a"(ret)
      : "a"(static_cast<long>(SYS_sendmsg)), "D"(fd), "S"(msg), "d"(static_cast<long>(MSG_NOSIGNAL)),
        "r"(r10)
      : "rcx", "r11", "memory");
  return ret;
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = SYS_sendmsg;
  register long x0 __asm__("x0") = fd;
  register long x1 __asm__("x1") = reinterpret_cast<long>(msg);
  register long x2 __asm__("x2") = MSG_NOSIGNAL;
  __asm__ volatile(
      "svc 0\n"
      ".globl hinetd_handoff_return\n"
      "hinetd_handoff_return:\n"
      : "+r"(x0)
      : "r"(x8), "r"(x1), "r"(x2)
      : "memory");
  return x0;
#elif defined(__riscv)
  register long a7 __asm__("a7") = SYS_sendmsg;
  register long a0 __asm__("a0") = fd;
  register long a1 __asm__("a1") = reinterpret_cast<long>(msg);
  register long a2 __asm__("a2") = MSG_NOSIGNAL;
  __asm__ volatile(
      "ecall\n"
      ".globl hinetd_handoff_return\n"
      "hinetd_handoff_return:\n"
      : "+r"(a0)
      : "r"(a7), "r"(a1), "r"(a2)
      : "memory");
  return a0;
#endif
}

// The listener to the monitor, with one byte (SCM_RIGHTS needs data); the
// monitor learns who sent it from the kernel (SO_PASSCRED).
long SendListener(int sock, int listener) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  *reinterpret_cast<int*>(CMSG_DATA(c)) = listener;
  return HandoffSendmsg(sock, &msg);
}
#else
long SendListener(int, int) { return -ENOSYS; }  // no recording here (see HandoffAddress)
#endif

}  // namespace

long MakeLandlockRuleset() {
  // handled_access_fs alone: the smallest ruleset every ABI accepts.
  uint64_t handled = kLandlockAccessFsRefer;
  long ruleset = Sys(SYS_landlock_create_ruleset, A(&handled), sizeof handled, 0);
  if (ruleset < 0) return ruleset;
  long root = Sys(SYS_openat, AT_FDCWD, A("/"), O_PATH | O_DIRECTORY | O_CLOEXEC);
  long r = root;
  if (root >= 0) {
    LandlockPathBeneath everywhere{kLandlockAccessFsRefer, static_cast<int32_t>(root)};
    r = Sys(SYS_landlock_add_rule, ruleset, kLandlockRulePathBeneath, A(&everywhere), 0);
    Sys(SYS_close, root);
  }
  if (r < 0) {
    Sys(SYS_close, ruleset);
    return r;
  }
  return ruleset;
}

uint64_t HandoffAddress() {
#if HINETD_RAW_SYSCALLS
  return reinterpret_cast<uint64_t>(hinetd_handoff_return);
#else
  return 0;
#endif
}

// The steps, each a function of its own (anonymous namespace: local to this
// object, which the build checks calls nothing but the kernel). Each either
// returns with its step done or reports {step, errno} and exits.
namespace {

// 1. Dispositions first, then the mask: a signal unblocked while a parent
//    disposition were still in place would run the parent's choice. Both
//    survive execve, so the service would inherit them.
void ResetSignals(const ChildSpec& s) {
  long r;
  for (int i = 0; i < s.n_signals_to_reset; ++i) {
    KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
    r = Sys(SYS_rt_sigaction, s.signals_to_reset[i], A(&dfl), 0, sizeof(uint64_t));
    if (r != 0) Fail(s, Step::kSignals, r);
  }
  uint64_t empty_mask = 0;
  r = Sys(SYS_rt_sigprocmask, SIG_SETMASK, A(&empty_mask), 0, sizeof empty_mask);
  if (r != 0) Fail(s, Step::kSignals, r);
}

// 2. A process group of its own: hinetd signals the whole group at
//    timeout/stop. Not a session: a session is a scheduler autogroup, made
//    and torn down per child, and a child that waits for the CPU in a group
//    of its own delays every other client (bench/run.sh at c=16: p99
//    25.9 ms with setsid, 13.7 ms without, and 41% more connections per
//    second). It needs none to be away from any terminal: the parent has
//    none (the daemon gives its up at start, DropControllingTerminal), and
//    only a session leader can acquire one. A parent that kept one (a
//    command run from a terminal) gets setsid, the terminal's session left
//    behind.
void TakeProcessGroup(const ChildSpec& s) {
  long r = s.new_session ? Sys(SYS_setsid) : Sys(SYS_setpgid, 0, 0);
  if (r < 0) Fail(s, Step::kProcessGroup, r);
}

// 3. The socket on 0 and 1, stderr on 2. dup3 leaves close-on-exec clear on
//    the new descriptors. The accepted socket must block, as stdin does for
//    the programs inetd runs.
void SocketOnStdio(const ChildSpec& s) {
  long r;
  if ((r = Dup2(s.conn_fd, 0)) < 0 || (r = Dup2(s.conn_fd, 1)) < 0 ||
      (r = Dup2(s.stderr_fd, 2)) < 0) {
    Fail(s, Step::kStdio, r);
  }
  long fl = Sys(SYS_fcntl, 0, F_GETFL);
  if (fl < 0) Fail(s, Step::kStdio, fl);
  if ((fl & O_NONBLOCK) && (r = Sys(SYS_fcntl, 0, F_SETFL, fl & ~O_NONBLOCK)) < 0) {
    Fail(s, Step::kStdio, r);
  }
}

// 4. Close everything else before chroot, so that no directory fd from
//    outside the jail survives into it. The status pipe, the exec fd, the
//    recorder's socket and the Landlock ruleset stay (all close-on-exec; the
//    ruleset is no directory: nothing can be opened through it), and the
//    namespaces of step 7 (closed there).
void CloseEverythingElse(const ChildSpec& s) {
  long r = CloseAllExcept(s.status_fd, s.exec_fd, s.notify_socket, s.user_ns_fd, s.mnt_ns_fd,
                          s.landlock_ruleset);
  if (r != 0) Fail(s, Step::kCloseFds, r);
}

// 5. Limits while hinetd's own hard limits still allow them.
void SetLimits(const ChildSpec& s) {
  for (int i = 0; i < s.n_rlimits; ++i) {
    rlimit lim{s.rlimits[i].soft, s.rlimits[i].hard};
    long r = Sys(SYS_prlimit64, 0, s.rlimits[i].resource, A(&lim), 0);
    if (r != 0) Fail(s, Step::kRlimits, r);
  }
  Sys(SYS_umask, s.umask);
}

// 6. The bounding set needs CAP_SETPCAP to shrink: do it while uid 0 still
//    holds it (nothing to do under the monitor, which emptied its own at
//    start). Ambient capabilities would survive execve.
void EmptyBoundingSet(const ChildSpec& s) {
  long r;
  for (int i = 0; i < s.n_bounding_caps; ++i) {
    r = Sys(SYS_prctl, PR_CAPBSET_DROP, s.bounding_caps[i], 0, 0, 0);
    if (r != 0) Fail(s, Step::kCapBounding, r);
  }
  r = Sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (r != 0 && r != -EINVAL) Fail(s, Step::kCapBounding, r);
}

// 7. chroot needs CAP_SYS_CHROOT (still held); chdir at once so the cwd is
//    inside the jail.
//    drops_privileges instead joins its user namespace (the kernel wants a
//    process that shares no fs_struct and no thread group: this one, cloned
//    without CLONE_FS or CLONE_THREAD, even with CLONE_VM). It then holds
//    every capability there, none outside: enough to join the mount
//    namespace that namespace owns, whose root is the jail (setns sets root
//    and cwd to it), and, below, to take the mapped ids. Its ids stay kernel
//    uid 0 until then (unmapped there).
void EnterJail(const ChildSpec& s) {
  long r;
  if (s.user_ns_fd >= 0) {
    if ((r = Sys(SYS_setns, s.user_ns_fd, CLONE_NEWUSER)) != 0) Fail(s, Step::kNamespaces, r);
    Sys(SYS_close, s.user_ns_fd);
    if (s.mnt_ns_fd >= 0) {
      if ((r = Sys(SYS_setns, s.mnt_ns_fd, CLONE_NEWNS)) != 0) Fail(s, Step::kNamespaces, r);
      Sys(SYS_close, s.mnt_ns_fd);
    }
  } else if (s.chroot_dir != nullptr && (r = Sys(SYS_chroot, A(s.chroot_dir))) != 0) {
    Fail(s, Step::kChroot, r);
  }
  if ((r = Sys(SYS_chdir, A(s.workdir))) != 0) Fail(s, Step::kChroot, r);
}

// 8-10. Groups before gid before uid: each needs privileges the next drops.
//     The saved uid stays 0 until execve, which sets it to the effective uid
//     (the kernel's rule for every exec without a set-user-ID bit). Until
//     then this process shares the monitor's memory, and the kernel lets an
//     unprivileged process ptrace it, or open its /proc/PID/mem, only if its
//     uid matches all three of real, effective and saved: with a saved uid
//     of 0, none does. (The dumpable flag cannot protect it: it belongs to
//     the shared memory, and every id change of any child resets it to
//     fs.suid_dumpable, which may be 1.) Ids of 0 stay 0 (unconfined).
//     In its user namespace a drops_privileges child keeps its saved uid
//     (-1: unchanged), kernel uid 0, which that namespace does not map: the
//     same protection, and no id it could ever take back.
//     Then no capability is left in any set, but a drops_privileges child's
//     three.
void TakeIdentity(const ChildSpec& s) {
  long r;
  bool own_identity = s.user_ns_fd >= 0;
  if ((r = Sys(SYS_setgroups, s.n_groups, A(s.groups))) != 0) Fail(s, Step::kSetgroups, r);
  if ((r = Sys(SYS_setresgid, s.gid, s.gid, s.gid)) != 0) Fail(s, Step::kSetgid, r);
  if ((r = Sys(SYS_setresuid, s.uid, s.uid, own_identity ? -1L : 0L)) != 0) {
    Fail(s, Step::kSetuid, r);
  }
  //     drops_privileges: the set*id calls kept every capability (the
  //     namespace maps no uid 0, so the kernel's root rules never apply).
  //     The bounding set is full again (setns), and CAP_SETPCAP still held:
  //     shrink it to the three, now.
  if (own_identity) {
    for (int cap = 0; cap <= s.last_cap; ++cap) {
      if (cap < 32 && (kIdentityCaps & (1U << cap)) != 0) continue;
      r = Sys(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
      if (r != 0) Fail(s, Step::kKeepCaps, r);
    }
  }
  //     The permitted set survives a saved uid of 0: empty every set now.
  //     This also empties the inheritable set, and covers a service that
  //     stays uid 0. drops_privileges keeps its three in every set; ambient,
  //     so that execve (no file capabilities, no set-user-ID) hands them to
  //     the program.
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  if (own_identity) caps[0] = {kIdentityCaps, kIdentityCaps, kIdentityCaps};
  if ((r = Sys(SYS_capset, A(&hdr), A(caps))) != 0) Fail(s, Step::kSetuid, r);
  if (own_identity) {
    for (int cap : kIdentityCapList) {
      r = Sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
      if (r != 0) Fail(s, Step::kKeepCaps, r);
    }
  }
}

// 11. Verify, like OpenSSH after permanently_set_uid: the ids are the target
//     (saved uid 0 until execve, as above), no group can be regained, and no
//     capability is left, in any set.
//     drops_privileges: exactly its three capabilities (in every set,
//     ambient, bounding), and no uid 0 or gid 0 to go back to. Its saved uid
//     (kernel uid 0, left unchanged) reads as the overflow uid, which may be
//     its own (nobody's 65534): not compared.
void VerifyIdentity(const ChildSpec& s) {
  bool own_identity = s.user_ns_fd >= 0;
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (Sys(SYS_getresuid, A(&ru), A(&eu), A(&su)) != 0 || ru != s.uid || eu != s.uid ||
      (!own_identity && su != 0)) {
    Fail(s, Step::kVerify, -EPERM);
  }
  if (Sys(SYS_getresgid, A(&rg), A(&eg), A(&sg)) != 0 || rg != s.gid || eg != s.gid ||
      sg != s.gid) {
    Fail(s, Step::kVerify, -EPERM);
  }
  if (s.gid != 0 && Sys(SYS_setresgid, 0, 0, 0) == 0) Fail(s, Step::kVerify, -EPERM);
  if (own_identity) {
    if (Sys(SYS_setresuid, 0, 0, 0) == 0) Fail(s, Step::kVerify, -EPERM);
    if (CapsAre(kIdentityCaps) != 1) Fail(s, Step::kVerify, -EPERM);
    for (int cap = 0; cap <= s.last_cap; ++cap) {
      long want = cap < 32 && (kIdentityCaps & (1U << cap)) != 0 ? 1 : 0;
      if (Sys(SYS_prctl, PR_CAPBSET_READ, cap, 0, 0, 0) != want ||
          Sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) != want) {
        Fail(s, Step::kVerify, -EPERM);
      }
    }
    return;
  }
  if (CapsAreEmpty() != 1) Fail(s, Step::kVerify, -EPERM);
  // The bounding set can only shrink, so checking what the parent had is
  // enough.
  for (int i = 0; i < s.n_bounding_caps; ++i) {
    if (Sys(SYS_prctl, PR_CAPBSET_READ, s.bounding_caps[i], 0, 0, 0) != 0) {
      Fail(s, Step::kVerify, -EPERM);
    }
  }
}

// 12. The id change clears the parent-death signal, so it goes after.
void SetParentDeathSignal(const ChildSpec& s) {
  long r;
  if (s.pdeathsig != 0 && (r = Sys(SYS_prctl, PR_SET_PDEATHSIG, s.pdeathsig, 0, 0, 0)) != 0) {
    Fail(s, Step::kPdeathsig, r);
  }
}

// 13. No setuid/file-capability gains through execve, ever; also what lets
//     an unprivileged process install a seccomp filter.
void ForbidNewPrivileges(const ChildSpec& s) {
  long r = Sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (r != 0) Fail(s, Step::kNoNewPrivs, r);
}

// 14. A Landlock domain of its own (which needs no_new_privs): the kernel
//     lets a process in a domain trace, open /proc/PID/mem or
//     /proc/PID/environ of, or pidfd_getfd from, only processes of its own
//     domain or of one nested in it. Every child gets a fresh one, so no
//     child reaches another child, nor any process outside hinetd, even as
//     the same uid and even without a chroot, where the host's /proc shows
//     what the PID namespace hides. It restricts nothing else: it handles
//     only LANDLOCK_ACCESS_FS_REFER (linking or renaming into another
//     directory, which a domain always handles), and allows that beneath "/".
//     The ruleset is the spawner's, made once, with the spawner's "/" (every
//     jail is beneath it, in the same mount namespace): a single call here,
//     and still a domain of this child's own (each landlock_restrict_self
//     makes a new one, nested in none of its siblings'). A child that
//     joined another mount namespace (step 7) makes its own, beneath its
//     new "/".
void EnterOwnLandlockDomain(const ChildSpec& s) {
  long r;
  if (s.landlock && (r = EnterLandlockDomain(s.landlock_ruleset)) != 0) {
    Fail(s, Step::kLandlock, r);
  }
}

// 15. Last: steps 1-14 use syscalls the service's policy must not allow.
//     First the layer every child gets, then the service's own policy.
void InstallFilters(const ChildSpec& s) {
  long r;
  if (s.base_filter != nullptr &&
      (r = Sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, A(s.base_filter))) != 0) {
    Fail(s, Step::kSeccomp, r);
  }
  if (s.filter == nullptr) return;
  if (s.notify_socket < 0) {
    r = Sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, A(s.filter));
    if (r != 0) Fail(s, Step::kSeccomp, r);
    return;
  }
  //     A recording or trial program (sandbox/recording.h) comes with a
  //     listener, which goes to the monitor at once: until it has it, a
  //     notified call would wait for an answer nobody can give. The program
  //     lets exactly this sendmsg through. If it fails, the next call
  //     (Fail's write) waits like that, and the monitor's setup deadline
  //     kills this process.
  long listener =
      Sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, A(s.filter));
  if (listener < 0) Fail(s, Step::kSeccomp, listener);
  if ((r = SendListener(s.notify_socket, static_cast<int>(listener))) < 0) {
    Fail(s, Step::kSeccomp, r);
  }
}

// 16. An absolute path inside the jail, or the helper's fd (internal services
//     run a static helper that is not inside their empty jail). Returns only
//     on failure, which it reports.
[[noreturn]] void Execute(const ChildSpec& s) {
  long r;
  if (s.path != nullptr) {
    r = Sys(SYS_execve, A(s.path), A(s.argv), A(s.envp));
  } else {
    r = Sys(SYS_execveat, s.exec_fd, A(""), A(s.argv), A(s.envp), AT_EMPTY_PATH);
  }
  StatusReport report{static_cast<int32_t>(Step::kExec), static_cast<int32_t>(-r)};
  Sys(SYS_write, s.status_fd, A(&report), sizeof report);
  Exit(r == -ENOENT ? kExitNotFound : kExitNotExecutable);
}

}  // namespace

// DESIGN.md §2, in its order; each step says above why it comes where it does.
void RunChild(const ChildSpec& s) {
  ResetSignals(s);            // 1
  TakeProcessGroup(s);        // 2
  SocketOnStdio(s);           // 3
  CloseEverythingElse(s);     // 4
  SetLimits(s);               // 5
  EmptyBoundingSet(s);        // 6
  EnterJail(s);               // 7
  TakeIdentity(s);            // 8-10
  VerifyIdentity(s);          // 11
  SetParentDeathSignal(s);    // 12
  ForbidNewPrivileges(s);     // 13
  EnterOwnLandlockDomain(s);  // 14
  InstallFilters(s);          // 15
  Execute(s);                 // 16
}

}  // namespace hinetd::spawn
