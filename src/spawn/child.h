// The child, from clone to execve (DESIGN.md §2). Everything it needs is in
// a ChildSpec of plain pointers into memory the parent prepared; the child
// makes only system calls: no allocation, no locks, no name lookups, no
// logging. It shares the parent's memory (clone with CLONE_VM), so it must
// not write anything but its own stack: not even errno. Where the child's
// raw system calls are written for the architecture (HINETD_RAW_SYSCALLS),
// the parent goes on while the child sets itself up, and keeps everything
// the child reads alive and unchanged until its status pipe says it has
// executed or failed; elsewhere the spawn is vfork-style (the parent sleeps
// until then).
#pragma once

#if defined(__x86_64__) || defined(__aarch64__) || (defined(__riscv) && __riscv_xlen == 64)
#define HINETD_RAW_SYSCALLS 1
#else
#define HINETD_RAW_SYSCALLS 0
#endif

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>

namespace hinetd::spawn {

// The steps, in order. Values are part of the status-pipe protocol.
enum class Step : int32_t {
  kSignals = 1,    // reset dispositions, empty the mask
  kProcessGroup,         // a process group of its own (a session only where the parent has a terminal)
  kStdio,          // socket on 0/1, stderr on 2, blocking mode
  kCloseFds,       // nothing else survives, before chroot
  kRlimits,        // rlimits and umask
  kCapBounding,    // empty bounding and ambient sets
  kChroot,         // chroot + chdir
  kSetgroups,      //
  kSetgid,         // setresgid
  kSetuid,         // setresuid (saved uid 0 until execve), then empty the capability sets
  kVerify,         // ids are the target, no caps, no bounding set
  kPdeathsig,      // only if configured
  kNoNewPrivs,     //
  kLandlock,       // a Landlock domain of its own, where the kernel has one
  kSeccomp,        // the precompiled filter, last
  kExec,           // execve / execveat
  // drops_privileges only (after the others for the protocol; they run in
  // place of kChroot, and after kSetuid):
  kNamespaces,     // setns into the service's user, then mount namespace
  kKeepCaps,       // CAP_SETUID, CAP_SETGID, CAP_SYS_CHROOT there, ambient
};

// "signals", "setsid", ... for logs.
[[nodiscard]] const char* StepName(int32_t step);

// What the child writes to the status pipe when a step fails. EOF on the
// pipe (close-on-exec) means execve succeeded.
struct StatusReport {
  int32_t step;
  int32_t err;
};

// Exit statuses of a child that never became the service (DESIGN.md §5).
inline constexpr int kExitSetupFailed = 125;
inline constexpr int kExitNotExecutable = 126;
inline constexpr int kExitNotFound = 127;

struct ChildRlimit {
  int resource;
  rlim_t soft;
  rlim_t hard;
};

struct ChildSpec {
  // Step 1: signals whose disposition is not SIG_DFL in the parent (a
  // handler, or SIG_IGN, which survives execve).
  const int* signals_to_reset;
  int n_signals_to_reset;
  // Step 2: setsid instead of setpgid, where the parent has a controlling
  // terminal (see Spawner::Create).
  bool new_session;
  // Step 3.
  int conn_fd;   // becomes 0 and 1
  int stderr_fd;  // becomes 2 (/dev/null, the socket, or a log pipe)
  // Step 4: these two survive (both close-on-exec); -1 if unused.
  int status_fd;
  int exec_fd;
  // Step 5.
  const ChildRlimit* rlimits;
  int n_rlimits;
  mode_t umask;
  // Step 6/11: capabilities in the parent's bounding set (only those can be
  // in the child's).
  const int* bounding_caps;
  int n_bounding_caps;
  // Step 7: nullptr = no chroot.
  const char* chroot_dir;
  const char* workdir;
  // drops_privileges (spawn/identity_ns.h): the user namespace to join
  // (-1: none, every other service), and its mount namespace whose root is
  // the jail (-1: no jail), which replaces chroot_dir. Both survive step 4
  // and are closed once joined. The child then keeps CAP_SETUID, CAP_SETGID
  // and CAP_SYS_CHROOT in that namespace, through execve (ambient), and no
  // other capability can be in its bounding set, whose highest is last_cap.
  int user_ns_fd = -1;
  int mnt_ns_fd = -1;
  int last_cap = 0;
  // Steps 8-10.
  const gid_t* groups;
  int n_groups;
  gid_t gid;
  uid_t uid;
  // Step 12: 0 = not configured.
  int pdeathsig;
  // Step 14: a Landlock domain of its own (false where the kernel has no
  // Landlock ABI 2 or later). `landlock_ruleset`: what the domain is made
  // from, made once by the spawner (MakeLandlockRuleset) for children that
  // stay in its mount namespace (kept by step 4, close-on-exec); -1: the
  // child makes its own, after its step 7.
  bool landlock;
  int landlock_ruleset = -1;
  // Step 15: the layer every child gets (no new namespaces, no clone3),
  // then the service's own policy (nullptr = unconfined).
  const sock_fprog* base_filter;
  const sock_fprog* filter;
  // A recording or trial `filter` (sandbox/recording.h): installed with a
  // new listener, which goes to the monitor on this socket (kept by step 4,
  // close-on-exec); -1 for every other filter.
  int notify_socket = -1;
  // Step 16: path (absolute, inside the chroot), or exec_fd when path is null.
  const char* path;
  char* const* argv;
  char* const* envp;
};

// The address the kernel reports as the instruction pointer of the child's
// one sendmsg of its listener (recording.h's Handoff); 0 where children
// cannot record (no raw system calls for the architecture).
[[nodiscard]] uint64_t HandoffAddress();

// The ruleset of a child's Landlock domain (step 14): LANDLOCK_ACCESS_FS_REFER
// handled, and allowed beneath "/" (this process's root): a descriptor
// (close-on-exec), or -errno. Raw system calls only.
[[nodiscard]] long MakeLandlockRuleset();

// Runs the steps and execs; never returns.
[[noreturn]] void RunChild(const ChildSpec& spec);

}  // namespace hinetd::spawn
