// Which service a seccomp kill belongs to, and its log line. The kernel
// says a process was killed by its filter in an audit record (kmsg.h),
// apart from and often a moment after the SIGCHLD, and names only the pid.
// So the `end` line of a child the filter killed waits (up to
// Options::seccomp_record_wait) for the record naming the syscall; and a
// kill of a process a child started (a grandchild, a daemonized
// descendant), which the monitor never reaps, is named after the child it
// descends from by the table of fork events (proc_events.h), or while it
// is still alive by its parent chain in /proc, and logged as
// event=seccomp. A kill of a process that is none of hinetd's is not
// logged at all.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "config/types.h"
#include "supervisor/children.h"
#include "supervisor/host_watch.h"
#include "supervisor/kmsg.h"
#include "supervisor/limits.h"
#include "supervisor/proc_events.h"

namespace hinetd::supervisor {

// The processes besides children that the monitor accounts for itself:
// its listeners (a listener's kill is logged as listener-exit), and the
// table, whose services' uids tell a kill that may be one of a service's
// processes from one elsewhere on the system.
struct KnownProcesses {
  pid_t listener = -1;
  pid_t last_listener = -1;
  const config::Config* config = nullptr;
};

class SeccompKills {
 public:
  SeccompKills(base::Logger& log, const Children& children, std::chrono::milliseconds record_wait)
      : log_(log), children_(children), record_wait_(record_wait) {}

  // Opens the kernel's audit records and process events, while the
  // monitor still has the privileges they need (at start); says in the
  // log what cannot be done without them.
  void Open();
  // The descriptors to watch (-1: none): the audit records (two), the
  // process events.
  [[nodiscard]] int kmsg_fd() const { return seccomp_log_.fd(); }
  [[nodiscard]] int audit_fd() const { return seccomp_log_.audit_fd(); }
  [[nodiscard]] bool records_available() const { return seccomp_log_.available(); }
  [[nodiscard]] int process_events_fd() const { return process_tree_.fd(); }
  [[nodiscard]] bool process_events_available() const { return process_tree_.available(); }

  // Reads the host source `fd` (kmsg_fd(), audit_fd() or
  // process_events_fd()), logging the kills of descendants among its
  // records, for the host watch (host_watch.h): a kill record of one of
  // hinetd's processes (a child, a descendant of one, a listener) is its
  // own; anything else this read found, or any other read took from that
  // source since its last look (a reap, a killed child's record), is the
  // host's business: the host is still busy either way.
  HostWatch::Found ReadHostSource(int fd, const KnownProcesses& known);
  // Reads the process events (fork, exit) queued now; reports lost ones.
  // Returns how many datagrams it read.
  size_t DrainProcessTree();
  // A child killed by its filter: its end line is logged once the record
  // comes, or at the deadline without the syscall.
  void AddEnd(pid_t pid, const std::string& service, double seconds, const KnownProcesses& known);
  // Logs the end lines whose record came, or whose deadline passed (`all`:
  // every one, the monitor stops).
  void FlushEnds(bool all, const KnownProcesses& known);
  [[nodiscard]] bool ends_pending() const { return !pending_.empty(); }
  // The earliest deadline of an end line waiting (max() if none).
  [[nodiscard]] Clock::time_point next_deadline() const;
  // The syscall that killed the listener `pid` ("unknown" without its record).
  [[nodiscard]] std::string ListenerSyscall(pid_t pid);
  // The service a process belongs to (a child, or a descendant of one).
  [[nodiscard]] std::optional<std::string> ServiceOf(pid_t pid) const;

 private:
  struct PendingEnd {  // a seccomp kill waiting for its audit record
    pid_t pid;
    std::string service;
    double seconds;
    Clock::time_point deadline;
  };

  // Logs `event=seccomp` for each kill record of a process that is not a
  // child the monitor reaps itself: a grandchild, a daemonized descendant.
  void LogDescendantKills(const KnownProcesses& known);
  // The child `pid` descends from, by its parent chain in /proc (only while
  // it is not reaped): its service and pid.
  [[nodiscard]] std::optional<std::pair<std::string, pid_t>> ChildAncestorFromProc(
      pid_t pid) const;

  // Messages read from `fd` so far, and a host watch's last look at them.
  [[nodiscard]] uint64_t ReadSoFar(int fd) const;
  uint64_t& LookedAt(int fd);

  base::Logger& log_;
  const Children& children_;
  std::chrono::milliseconds record_wait_;
  std::vector<PendingEnd> pending_;
  SeccompLog seccomp_log_;
  ProcessTree process_tree_;
  uint64_t process_datagrams_ = 0;  // read so far
  uint64_t looked_at_[3] = {};      // kmsg, audit, process events
  // Until then, the table may miss descendants (events were lost).
  Clock::time_point process_tree_unsure_until_{};
  RateLimiter process_tree_warning_{1, std::chrono::seconds(10), Clock::now()};
  RateLimiter unattributed_log_{20, std::chrono::seconds(10), Clock::now()};
};

}  // namespace hinetd::supervisor
