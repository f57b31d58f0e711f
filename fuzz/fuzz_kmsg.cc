// The audit records hinetd reads to name the syscall that killed a child:
// /dev/kmsg lines and AUDIT_SECCOMP netlink bodies. Any process that can
// write to the kernel log can put text there. The first byte picks which.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "supervisor/kmsg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hinetd::supervisor;
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto r = data[0] % 2 == 0 ? ParseSeccompRecord(text) : ParseSeccompAudit(text);
  // A record names a real process and a syscall number.
  if (r && (r->pid <= 0 || r->syscall < 0)) abort();
  return 0;
}
