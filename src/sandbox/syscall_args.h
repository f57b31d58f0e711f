// TEMPORARY stand-in for the lead's API (issue 12, part 1), replaced by
// main's version at the merge: the same declarations, a minimal table.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hinetd::sandbox {

enum class ArgKind { kPointer, k32, k64 };
struct ArgInfo {
  std::string name;
  ArgKind kind;
  bool is_signed;
};
// The kernel's argument list of a syscall (by libseccomp's name), nullptr if unknown.
const std::vector<ArgInfo>* SyscallArgs(const std::string& syscall);
struct ArgThatMatters {
  int index;
  bool is_flags;
  uint64_t danger_mask;
};
std::vector<ArgThatMatters> ArgumentsThatMatter(const std::string& syscall);
// A value as a rule would write it: "AF_UNIX", "PROT_READ|PROT_WRITE", "TCGETS", "0x5401", "-1".
std::string DescribeValue(const std::string& syscall, int arg, uint64_t value);

}  // namespace hinetd::sandbox
