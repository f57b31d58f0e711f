// The seccomp filters of hinetd's own two processes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "sandbox/policy.h"

namespace hinetd::sandbox {

// The listener: exactly what its loop needs (epoll, accept, peek, rebind
// and connect UDP sockets, pass descriptors to the monitor, log to stderr
// or the monitor's relay), with the arguments of the risky ones pinned
// (socket: AF_INET/AF_INET6 datagrams only, no AF_UNIX; mmap: never
// PROT_EXEC; setsockopt, getsockopt, fcntl, futex, madvise: the operations
// it uses). Anything else kills it, and the monitor restarts it and logs
// which syscall.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> ListenerFilter();

// The syscalls ListenerFilter allows, some only with given arguments (for
// documentation and tests; README.md and hinetd(8) give the count).
[[nodiscard]] std::vector<std::string> ListenerSyscalls();

// The monitor: every child inherits the monitor's filter (seccomp filters
// cannot be removed), so it cannot be an allow list — that would force every
// service's needs on it. It is a deny list (errno EPERM) of the kernel's
// administration and introspection calls: mounting, modules, kexec, BPF,
// perf, ptrace and cross-process memory access, keyrings, namespaces,
// io_uring. No service needs them, and none of them works without
// capabilities the children never have, or belongs in a sandbox.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> MonitorFilter();

// setns() is refused too, except with nstype CLONE_NEWUSER or CLONE_NEWNS
// exactly: the children of drops_privileges services join the namespaces
// the namespace maker made for them (spawn/identity_ns.h); ChildrenFilter
// refuses setns() outright before any service code runs.
//
// The namespace maker (a process the monitor forks before it installs its
// own filter, and which only makes those namespaces) gets the same list
// without unshare, mount, umount2 and pivot_root: its holders unshare a
// user and a mount namespace and pivot into a jail. The monitor itself
// never can: with CAP_SYS_ADMIN it could mount in the host's namespace.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> NamespaceMakerFilter();

// The syscalls MonitorFilter refuses (for documentation and tests). It
// also refuses clone() with CLONE_NEWUSER, CLONE_NEWNS or CLONE_NEWCGROUP,
// and clone3() (ENOSYS: its flags are behind a pointer).
[[nodiscard]] const std::vector<std::string>& MonitorDenyList();

// The namespaces the monitor may create (for its children), and all of them.
[[nodiscard]] uint64_t MonitorCloneNamespaces();
[[nodiscard]] uint64_t AllCloneNamespaces();

// The layer every child installs before its service's policy (and alone
// under sandbox = "none"): on top of the monitor's deny list, which it
// inherits, no namespace of any kind — clone() with a CLONE_NEW* flag fails
// with EPERM, clone3() with ENOSYS — so that no service can get a user
// namespace (a full capability set inside it), whatever its policy allows.
[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> ChildrenFilter();

// What the two layers above a service's policy (the monitor's deny list,
// which every child inherits, and ChildrenFilter) refuse every service
// with an errno, whatever its policy says: one entry per syscall, with the
// condition on its arguments when only some calls are refused (clone with
// a CLONE_NEW* flag), in the syntax of a policy's argument rules. The
// kernel ranks an errno above a user notification, so neither `hinetd
// learn` nor a policy in trial mode ever sees these calls; and it ranks a
// kill above an errno, so a policy whose default kills them must name them
// to give the program the errno it had while it was learned
// (sandbox/learned.h writes them into every learned policy). Built from the
// same lists as the filters; tests run both filters to check each entry.
struct BaseRefusal {
  std::string syscall;
  int err = 0;       // EPERM, or ENOSYS for clone3
  std::string when;  // empty: every call
};
[[nodiscard]] const std::vector<BaseRefusal>& BaseLayerRefusals();

// Called once this process runs under its own daemon filter (the monitor's
// or the listener's). Only the sanitizer build (HINETD_SANITIZE) does
// anything with it: LeakSanitizer's exit-time check stops the process's
// threads with ptrace, which both filters refuse, so from here on the check
// is turned off instead of failing ("LeakSanitizer has encountered a fatal
// error", exit 1: a report about the tool, not a leak). Everything before
// the filter, and every command that installs none, keeps the check.
void NoteDaemonFilterInstalled();

}  // namespace hinetd::sandbox
