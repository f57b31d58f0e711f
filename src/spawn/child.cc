// The child's steps. Read top to bottom: each step says what it must come
// after and why. Only system calls here (raw syscall(2) where glibc's wrapper
// would do more than the call: set*id wrappers broadcast to threads, and
// sigaction filters glibc's reserved signals).
#include "spawn/child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace hinetd::spawn {

const char* StepName(int32_t step) {
  switch (static_cast<Step>(step)) {
    case Step::kSignals: return "signals";
    case Step::kSetsid: return "setsid";
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
    case Step::kSeccomp: return "seccomp";
    case Step::kExec: return "execve";
  }
  return "unknown";
}

namespace {

// The kernel's struct sigaction for rt_sigaction(2) on x86_64/aarch64.
struct KernelSigaction {
  __sighandler_t handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

[[noreturn]] void Fail(const ChildSpec& s, Step step, int err) {
  StatusReport report{static_cast<int32_t>(step), err};
  // Best effort: if even this write fails, the parent sees exit 125 without
  // a step.
  ssize_t ignored = write(s.status_fd, &report, sizeof report);
  (void)ignored;
  _exit(kExitSetupFailed);
}

// close_range(2) over the gaps between the fds to keep (at most two, >= 3).
int CloseAllExcept(int a, int b) {
  if (a > b) {
    int t = a;
    a = b;
    b = t;
  }
  unsigned next = 3;
  const int keeps[2] = {a, b};
  for (int keep : keeps) {
    if (keep < 3) continue;
    if (static_cast<unsigned>(keep) > next &&
        syscall(SYS_close_range, next, static_cast<unsigned>(keep) - 1, 0) != 0) {
      return -1;
    }
    next = static_cast<unsigned>(keep) + 1;
  }
  return static_cast<int>(syscall(SYS_close_range, next, ~0U, 0));
}

int CapsAreEmpty() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return -1;
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) return 0;
  }
  return 1;
}

}  // namespace

void RunChild(const ChildSpec& s) {
  // 1. Dispositions first, then the mask: a signal unblocked while a parent
  //    disposition were still in place would run the parent's choice. Both
  //    survive execve, so the service would inherit them.
  for (int i = 0; i < s.n_signals_to_reset; ++i) {
    KernelSigaction dfl{SIG_DFL, 0, nullptr, 0};
    if (syscall(SYS_rt_sigaction, s.signals_to_reset[i], &dfl, nullptr, sizeof(uint64_t)) != 0) {
      Fail(s, Step::kSignals, errno);
    }
  }
  uint64_t empty_mask = 0;
  if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, nullptr, sizeof empty_mask) != 0) {
    Fail(s, Step::kSignals, errno);
  }

  // 2. A session (and process group) of its own: hinetd signals the whole
  //    group at timeout/stop, and the service has no controlling terminal.
  if (setsid() < 0) Fail(s, Step::kSetsid, errno);

  // 3. The socket on 0 and 1, stderr on 2. dup2 clears close-on-exec on the
  //    new descriptors. The accepted socket must block, as stdin does for
  //    the programs inetd runs.
  if (dup2(s.conn_fd, 0) < 0 || dup2(s.conn_fd, 1) < 0 || dup2(s.stderr_fd, 2) < 0) {
    Fail(s, Step::kStdio, errno);
  }
  int fl = fcntl(0, F_GETFL);
  if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(0, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
    Fail(s, Step::kStdio, errno);
  }

  // 4. Close everything else before chroot, so that no directory fd from
  //    outside the jail survives into it. The status pipe and the exec fd
  //    stay (both close-on-exec).
  if (CloseAllExcept(s.status_fd, s.exec_fd) != 0) Fail(s, Step::kCloseFds, errno);

  // 5. Limits while hinetd's own hard limits still allow them.
  for (int i = 0; i < s.n_rlimits; ++i) {
    rlimit lim{s.rlimits[i].soft, s.rlimits[i].hard};
    if (setrlimit(static_cast<__rlimit_resource>(s.rlimits[i].resource), &lim) != 0) {
      Fail(s, Step::kRlimits, errno);
    }
  }
  umask(s.umask);

  // 6. The bounding set needs CAP_SETPCAP to shrink: do it while uid 0
  //    still holds it. Ambient capabilities would survive execve.
  for (int i = 0; i < s.n_bounding_caps; ++i) {
    if (prctl(PR_CAPBSET_DROP, s.bounding_caps[i], 0, 0, 0) != 0) {
      Fail(s, Step::kCapBounding, errno);
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    Fail(s, Step::kCapBounding, errno);
  }

  // 7. chroot needs CAP_SYS_CHROOT (still held); chdir at once so the cwd is
  //    inside the jail.
  if (s.chroot_dir != nullptr && chroot(s.chroot_dir) != 0) Fail(s, Step::kChroot, errno);
  if (chdir(s.workdir) != 0) Fail(s, Step::kChroot, errno);

  // 8-10. Groups before gid before uid: each needs privileges the next drops.
  if (syscall(SYS_setgroups, s.n_groups, s.groups) != 0) Fail(s, Step::kSetgroups, errno);
  if (syscall(SYS_setresgid, s.gid, s.gid, s.gid) != 0) Fail(s, Step::kSetgid, errno);
  if (syscall(SYS_setresuid, s.uid, s.uid, s.uid) != 0) Fail(s, Step::kSetuid, errno);
  // Leaving uid 0 empties the permitted and effective sets; this also empties
  // the inheritable set, and covers a service that stays uid 0 (unconfined).
  {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[2] = {};
    if (syscall(SYS_capset, &hdr, none) != 0) Fail(s, Step::kSetuid, errno);
  }

  // 11. Verify, like OpenSSH after permanently_set_uid: the ids are the
  //     target, root cannot be regained, and no capability is left.
  {
    uid_t r, e, sv;
    gid_t gr, ge, gs;
    if (syscall(SYS_getresuid, &r, &e, &sv) != 0 || r != s.uid || e != s.uid || sv != s.uid) {
      Fail(s, Step::kVerify, EPERM);
    }
    if (syscall(SYS_getresgid, &gr, &ge, &gs) != 0 || gr != s.gid || ge != s.gid || gs != s.gid) {
      Fail(s, Step::kVerify, EPERM);
    }
    if (s.uid != 0 && syscall(SYS_setresuid, 0, 0, 0) == 0) Fail(s, Step::kVerify, EPERM);
    if (s.gid != 0 && syscall(SYS_setresgid, 0, 0, 0) == 0) Fail(s, Step::kVerify, EPERM);
    if (CapsAreEmpty() != 1) Fail(s, Step::kVerify, EPERM);
    // The bounding set can only shrink, so checking what the parent had is
    // enough.
    for (int i = 0; i < s.n_bounding_caps; ++i) {
      if (prctl(PR_CAPBSET_READ, s.bounding_caps[i], 0, 0, 0) != 0) {
        Fail(s, Step::kVerify, EPERM);
      }
    }
  }

  // 12. The id change clears the parent-death signal, so it goes after.
  if (s.pdeathsig != 0 && prctl(PR_SET_PDEATHSIG, s.pdeathsig, 0, 0, 0) != 0) {
    Fail(s, Step::kPdeathsig, errno);
  }

  // 13. No setuid/file-capability gains through execve, ever; also what
  //     lets an unprivileged process install a seccomp filter.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(s, Step::kNoNewPrivs, errno);

  // 14. Last: steps 1-13 use syscalls the service's policy must not allow.
  if (s.filter != nullptr &&
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, s.filter) != 0) {
    Fail(s, Step::kSeccomp, errno);
  }

  // 15. An absolute path inside the jail, or the helper's fd (internal
  //     services run a static helper that is not inside their empty jail).
  if (s.path != nullptr) {
    execve(s.path, s.argv, s.envp);
  } else {
    syscall(SYS_execveat, s.exec_fd, "", s.argv, s.envp, AT_EMPTY_PATH);
  }
  int err = errno;
  StatusReport report{static_cast<int32_t>(Step::kExec), err};
  ssize_t ignored = write(s.status_fd, &report, sizeof report);
  (void)ignored;
  _exit(err == ENOENT ? kExitNotFound : kExitNotExecutable);
}

}  // namespace hinetd::spawn
