// A classic-BPF interpreter for seccomp programs: runs a compiled filter on a
// seccomp_data in user space. Tests use it to check what a policy does for a
// given syscall and architecture without loading it into the kernel.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cstdint>
#include <vector>

#include "base/result.h"

namespace hinetd::sandbox {

// The SECCOMP_RET_* value the program returns for `data`, or an error for a
// malformed program (out-of-range jump, bad load, division by zero).
[[nodiscard]] base::Result<uint32_t> RunBpf(const std::vector<sock_filter>& program,
                                            const seccomp_data& data);

// AUDIT_ARCH_* of the architecture this binary was built for.
[[nodiscard]] uint32_t NativeAuditArch();

}  // namespace hinetd::sandbox
