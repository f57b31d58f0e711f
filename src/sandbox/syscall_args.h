// What the kernel passes a syscall: its arguments by name and kind, the
// named constants a rule may compare them with, and which arguments decide
// what a call can do. Policies (argument rules), `hinetd learn` and the
// trial mode's log lines read this; it is data, computed once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hinetd::sandbox {

// How the kernel reads an argument register. A 32-bit argument's upper half
// is ignored by the kernel but seen by a filter, so rules compare only its
// lower half (see ParseCondition).
enum class ArgKind { kPointer, k32, k64 };

struct ArgInfo {
  std::string name;
  ArgKind kind = ArgKind::k64;
  bool is_signed = false;
};

// The kernel's argument list of a syscall (libseccomp's name), or nullptr
// when the table (generated from this kernel's trace events by
// scripts/gen-syscall-args.sh) does not have it.
[[nodiscard]] const std::vector<ArgInfo>* SyscallArgs(const std::string& syscall);

// The arguments whose value decides what a call can do: socket's family,
// ioctl's cmd, prctl's option, clone's flags, mmap's prot...
struct ArgThatMatters {
  int index = 0;
  // A bit set: a rule is "arg & danger_mask == 0" when no observed value
  // had those bits. Otherwise an enumeration: one "arg == VALUE" per value.
  bool is_flags = false;
  uint64_t danger_mask = 0;
  // An enumeration that is a process id (kill's pid): only 0 (the
  // caller's process group) and -1 (every process it may signal) make a
  // rule; any other value names one process or group by its id, which is
  // not the same from one run to the next.
  bool is_pid = false;
};
[[nodiscard]] std::vector<ArgThatMatters> ArgumentsThatMatter(const std::string& syscall);

// A named constant (AF_UNIX, CLONE_NEWUSER, TCGETS...), or nullopt.
[[nodiscard]] std::optional<uint64_t> NamedConstant(const std::string& name);
// The prefixes of the constants hinetd knows, for error messages.
[[nodiscard]] const char* ConstantFamilies();

// A value as a rule would write it for argument `arg` of `syscall`:
// "AF_UNIX", "PROT_READ|PROT_WRITE", "TCGETS", "0x5401", "-1".
[[nodiscard]] std::string DescribeValue(const std::string& syscall, int arg, uint64_t value);

}  // namespace hinetd::sandbox
