// Which syscall killed a child: the kernel writes an audit record
// (type=1326, AUDIT_SECCOMP) for every seccomp kill to the kernel log, with
// the pid, the architecture and the syscall number. hinetd reads /dev/kmsg
// (opened while still root) and matches records to the children it reaps.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>

#include "base/unique_fd.h"

namespace hinetd::supervisor {

struct SeccompRecord {
  pid_t pid = 0;
  uint32_t arch = 0;  // AUDIT_ARCH_*
  int syscall = -1;
};

// Parses one /dev/kmsg record ("6,123,456,-;audit: type=1326 ... pid=42 ...
// arch=c000003e syscall=41 ..."); nullopt for anything else.
[[nodiscard]] std::optional<SeccompRecord> ParseSeccompRecord(std::string_view record);

class SeccompLog {
 public:
  // Opens /dev/kmsg and skips what is already there. Not fatal if it cannot
  // (no permission, no such device in a container): kills are then reported
  // without the syscall.
  void Open();
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] bool available() const { return fd_.valid(); }

  // Reads every record available now (non-blocking, bounded).
  void Drain();
  // The syscall that killed `pid`, if its record has been seen; forgets it.
  [[nodiscard]] std::optional<SeccompRecord> Take(pid_t pid);

 private:
  base::UniqueFd fd_;
  std::deque<SeccompRecord> recent_;  // bounded
};

}  // namespace hinetd::supervisor
