// One seccomp program in place of two. Every child installs the layer all
// children get (ChildrenFilter) and then its service's policy: two
// seccomp(2) calls, in each of which the kernel checks, converts and
// JIT-compiles a program and works out its action cache, about 17 us of
// fixed cost each on the VM this was measured on (bench/filters.cc). A
// program that gives the same verdict as the two together costs that once.
//
// The kernel runs every installed filter and keeps the verdict of highest
// precedence (the lowest SECCOMP_RET_ACTION_FULL as a signed number), the
// most recently installed one's on a tie (kernel/seccomp.c,
// seccomp_run_filters). MergeFilters(first, second) builds M with
//
//   M(x) == CombineVerdicts(first(x), second(x))   for every input x
//
// laid out so that the kernel's action cache (the syscalls a filter allows
// whatever their arguments, run without the filter) is the same as for the
// two: the first program as it is, each of its ALLOW returns a jump to an
// unchanged copy of the second, its KILL_PROCESS returns kept (nothing
// takes precedence over them), and each of its other returns (the EPERM
// for clone() with a namespace flag, the ENOSYS for clone3(), the EPERM
// for setns()) a jump to a dispatch on the syscall number over the numbers
// that can reach it, each to the second program specialised for that
// number: its comparisons of the number and of constants folded, the
// argument checks kept, every return replaced by its combination with the
// first's. Only the instructions the kernel's cache emulation follows are
// used (loads of nr and arch, JEQ/JGT/JGE/JSET with a constant, JA, AND
// with a constant, returns of a constant).
//
// Programs of another shape (the X register, scratch memory, a return of
// A, a load at the start of nothing, a syscall number a return is reached
// for in a range rather than singly) are refused with the reason: the
// caller installs the two then. Every merged program is checked against
// the two on the syscall numbers, architectures and arguments where their
// comparisons change (a mismatch is an error too, never a program).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "base/result.h"
#include "sandbox/policy.h"

namespace hinetd::sandbox {

// The verdict of two filters, `older` installed first: the one of higher
// precedence, `newer`'s on a tie.
[[nodiscard]] uint32_t CombineVerdicts(uint32_t older, uint32_t newer);

[[nodiscard]] base::Result<std::unique_ptr<BpfProgram>> MergeFilters(const BpfProgram& first,
                                                                     const BpfProgram& second);

}  // namespace hinetd::sandbox
