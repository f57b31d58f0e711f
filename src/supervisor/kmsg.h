// Which syscall killed a child: the kernel makes an audit record
// (type=1326, AUDIT_SECCOMP) for every seccomp kill, with the pid, the
// architecture and the syscall number. Without an audit daemon it prints
// the record to the kernel log, but under printk's rate limit (10 in 5 s,
// shared with every other rate-limited message): under a burst of kills
// records go missing there. So hinetd also reads the records themselves,
// from the audit netlink socket's read-only multicast group (bound while
// still root: it needs CAP_AUDIT_READ then, and not afterwards), which no
// rate limit touches and which does not disturb an audit daemon; and
// /dev/kmsg where that group cannot be joined (a container). A record seen
// by both is kept once (by its audit serial). Records are matched to the
// children it reaps.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>
#include <optional>
#include <string_view>

#include "base/unique_fd.h"

namespace hinetd::supervisor {

struct SeccompRecord {
  pid_t pid = 0;
  uint32_t arch = 0;  // AUDIT_ARCH_*
  int syscall = -1;
  uint64_t serial = 0;  // the record's "audit(TIME:SERIAL)", 0 if none
  int64_t uid = -1;     // "uid=", -1 if none
  std::string comm;     // "comm=" without its quotes (hex if the kernel encoded it)
  // "code=": the filter's action (SECCOMP_RET_*), if the record gives it. A
  // filter's SECCOMP_RET_LOG makes records too, of calls it allowed (one
  // the service installed itself: hinetd's trial mode makes none, its "log"
  // returns are user notifications, sandbox/recording.h).
  std::optional<uint32_t> code;
  // False only for a record that says its action was not a kill.
  [[nodiscard]] bool killed() const;
};

// Parses one /dev/kmsg record ("6,123,456,-;audit: type=1326 audit(T:S): ...
// pid=42 ... arch=c000003e syscall=41 ..."); nullopt for anything else.
[[nodiscard]] std::optional<SeccompRecord> ParseSeccompRecord(std::string_view record);
// Parses the body of an AUDIT_SECCOMP netlink message ("audit(T:S): ...
// pid=42 ... arch=c000003e syscall=41 ...").
[[nodiscard]] std::optional<SeccompRecord> ParseSeccompAudit(std::string_view body);

class SeccompLog {
 public:
  // Opens /dev/kmsg and skips what is already there. Not fatal if it cannot
  // (no permission, no such device in a container): kills are then reported
  // without the syscall.
  void Open();
  // The descriptors to watch (either may be -1).
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] int audit_fd() const { return audit_.get(); }
  [[nodiscard]] bool available() const { return fd_.valid() || audit_.valid(); }

  // What one read of a source found: messages (kernel log lines, audit
  // messages), and the pids of the kill records among them.
  struct Drained {
    size_t messages = 0;
    std::vector<pid_t> killed;
  };
  // Reads every record available now from both sources (non-blocking,
  // bounded); or from one.
  void Drain();
  Drained DrainKmsg();
  Drained DrainAudit();
  // Messages read from each source so far, by any of the above.
  [[nodiscard]] uint64_t kmsg_read() const { return kmsg_read_; }
  [[nodiscard]] uint64_t audit_read() const { return audit_read_; }
  // The syscall that killed `pid`, if its record has been seen; forgets it.
  [[nodiscard]] std::optional<SeccompRecord> Take(pid_t pid);
  // Removes and returns the records of every pid `claimed` says no to (not
  // a child whose end the monitor logs itself): kills of a child's
  // descendants, or of processes that are not hinetd's at all.
  [[nodiscard]] std::vector<SeccompRecord> TakeUnclaimed(
      const std::function<bool(pid_t)>& claimed);
  // Tests: a record as if read.
  void AddForTest(const SeccompRecord& r) {
    Drained ignored;
    Add(r, ignored);
  }

 private:
  void Add(const SeccompRecord& r, Drained& drained);

  base::UniqueFd fd_;     // /dev/kmsg
  base::UniqueFd audit_;  // NETLINK_AUDIT, AUDIT_NLGRP_READLOG
  std::deque<SeccompRecord> recent_;  // bounded
  std::deque<uint64_t> serials_;      // of the records seen lately, bounded
  uint64_t kmsg_read_ = 0;
  uint64_t audit_read_ = 0;
};

}  // namespace hinetd::supervisor
