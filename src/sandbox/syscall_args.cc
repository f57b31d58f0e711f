// TEMPORARY stand-in for the lead's table (see syscall_args.h).
#include "sandbox/syscall_args.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <cstdio>
#include <map>

namespace hinetd::sandbox {

const std::vector<ArgInfo>* SyscallArgs(const std::string& syscall) {
  static const std::map<std::string, std::vector<ArgInfo>> kArgs = {
      {"socket",
       {{"family", ArgKind::k32, true}, {"type", ArgKind::k32, true},
        {"protocol", ArgKind::k32, true}}},
      {"ioctl",
       {{"fd", ArgKind::k32, false}, {"cmd", ArgKind::k32, false},
        {"arg", ArgKind::k64, false}}},
      {"mprotect",
       {{"start", ArgKind::kPointer, false}, {"len", ArgKind::k64, false},
        {"prot", ArgKind::k64, false}}},
      {"kill", {{"pid", ArgKind::k32, true}, {"sig", ArgKind::k32, true}}},
  };
  auto it = kArgs.find(syscall);
  return it == kArgs.end() ? nullptr : &it->second;
}

std::vector<ArgThatMatters> ArgumentsThatMatter(const std::string& syscall) {
  if (syscall == "socket") return {{0, false, 0}, {1, false, 0}};
  if (syscall == "ioctl") return {{1, false, 0}};
  if (syscall == "mprotect") return {{2, true, PROT_EXEC}};
  if (syscall == "kill") return {{0, false, 0}};
  return {};
}

std::string DescribeValue(const std::string& syscall, int arg, uint64_t value) {
  if (syscall == "socket" && arg == 0) {
    if (value == AF_UNIX) return "AF_UNIX";
    if (value == AF_INET) return "AF_INET";
    if (value == AF_INET6) return "AF_INET6";
  }
  if (syscall == "mprotect" && arg == 2 && value == PROT_EXEC) return "PROT_EXEC";
  if (syscall == "kill" && arg == 0 && static_cast<int32_t>(value) < 0) {
    return std::to_string(static_cast<int32_t>(value));
  }
  char buf[32];
  snprintf(buf, sizeof buf, value < 10 ? "%llu" : "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

}  // namespace hinetd::sandbox
