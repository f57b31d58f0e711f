// The seccomp filters of hinetd's own two processes.
#pragma once

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

// The syscalls MonitorFilter refuses (for documentation and tests).
[[nodiscard]] const std::vector<std::string>& MonitorDenyList();

}  // namespace hinetd::sandbox
