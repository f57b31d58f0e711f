// One seccomp program in place of two. Every child installs the layer all
// children get (ChildrenFilter) and then its service's policy: two
// seccomp(2) calls. What an install costs is mostly the kernel's walk over
// every system call number of both ABIs through the program, to build its
// action cache, and the JIT, per instruction (bench/filters.cc: 18.6 us
// for the layer, 31 for stdio); one program as short to walk as the policy
// alone costs that of the policy alone (35 us instead of 50).
//
// The kernel runs every installed filter and keeps the verdict of highest
// precedence (the lowest SECCOMP_RET_ACTION_FULL as a signed number), the
// most recently installed one's on a tie (kernel/seccomp.c,
// seccomp_run_filters). MergeFilters(first, second) builds M with
//
//   M(x) == CombineVerdicts(first(x), second(x))   for every input x
//
// from the second as the frame, unchanged but for its returns: each is
// walked back to the inputs that reach it (the syscall number and the
// architecture as intervals narrowed by the comparisons on the way, the
// arguments unknown), and the first is walked over those inputs. A return
// whose verdict outranks or ties with all of the first's stays; one where
// the first gives one verdict over all its inputs becomes the two's
// combination; where the first gives several for a syscall number (it
// looks at the arguments: clone's flags), a dispatch on the number jumps
// to a slice of the first for it (its comparisons of the number and of
// constants folded, every return combined with this one). Only the
// instructions the kernel's action-cache emulation follows are used
// (loads of nr and arch, JEQ/JGT/JGE/JSET with a constant, JA, AND with a
// constant, returns of a constant), so the same calls skip the filter as
// with the two.
//
// Programs of another shape (the X register, scratch memory, a return of
// A, a range of syscall numbers the first decides apart from the rest of
// a return's inputs) are refused with the reason: the caller installs the
// two then. Every merged program is checked against the two on the
// syscall numbers, architectures and arguments where their comparisons
// change (a mismatch is an error too, never a program).
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
