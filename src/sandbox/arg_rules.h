// Argument rules: the conditions under which a policy allows a syscall (or
// gives it an errno), parsed from their text and checked against the
// syscall's argument list. hinetd-sandbox(5) describes the language.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace hinetd::sandbox {

// One comparison of one argument, as libseccomp's scmp_arg_cmp has it.
enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kMaskedEq };

struct ArgCompare {
  int arg = 0;
  CompareOp op = CompareOp::kEq;
  uint64_t mask = 0;  // kMaskedEq: (arg & mask) == value
  uint64_t value = 0;

  bool operator==(const ArgCompare&) const = default;
};

// Comparisons that must all hold; at most one per argument (libseccomp
// compares each argument once per rule).
struct ArgCondition {
  std::vector<ArgCompare> all;

  bool operator==(const ArgCondition&) const = default;
};

// The most alternatives one condition may expand to ("& M != V" becomes one
// alternative per bit of M, and "&&" multiplies them).
inline constexpr size_t kMaxAlternatives = 64;

// Parses one condition for `syscall`, e.g. "family == AF_UNIX" or
// "clone_flags & (CLONE_NEWUSER|CLONE_NEWNET) == 0 && arg4 < 16", into the
// alternatives (any of which may hold) that libseccomp can compile. An
// error's loc.column is the 1-based column within `text`.
//
// A 32-bit argument is compared on its lower half only (the kernel ignores
// the upper half, which a caller controls): ==, & and < / <= are exact;
// != , > and >= on it are refused, since they would let a call through
// whose upper half differs.
[[nodiscard]] base::Result<std::vector<ArgCondition>> ParseCondition(const std::string& syscall,
                                                                     std::string_view text);

// "arg1 & 0x80 == 0" style text for a compiled comparison (for `check`
// when the source text is not at hand, and for tests).
[[nodiscard]] std::string ToString(const std::string& syscall, const ArgCondition& condition);

}  // namespace hinetd::sandbox
