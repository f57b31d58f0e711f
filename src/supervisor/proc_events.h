// Which service a process belongs to, whoever started it: a seccomp kill
// record names only the killed process's pid (in the initial PID
// namespace), and a service's grandchild (tftpd's per-request child), a
// thread's process, or a daemon that double-forked are not children of the
// monitor, so the pid alone says nothing.
//
// Why the kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC)
// and not /proc: a record can reach the monitor after the killed process
// has been reaped by its own parent (the audit thread sends it later, while
// the parent's SIGCHLD handler reaps at once), and then /proc no longer
// knows the pid, its parent or its PID namespace. The connector's fork
// event, by contrast, is queued on the monitor's socket in the forking
// task, before the new process first runs (copy_process), so it always
// precedes any kill record of that process: draining the events before
// attributing a record is enough. The table keeps every descendant of a
// child until some seconds after its exit event, and a fork event that
// gives the pid to an unrelated process drops it at once (pid reuse).
// The audit record's own fields cannot do it: `ses` is the login session,
// `uid` is shared by services, `comm`/`exe` are the program's to choose.
//
// Subscribing needs CAP_NET_ADMIN, so the socket is opened while the
// monitor is still root; in a container where that fails, the monitor
// falls back to /proc (the parent chain of a process still alive) and,
// where that fails too, logs the kill as unattributed (seccomp_kills.cc).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "base/unique_fd.h"
#include "supervisor/service_state.h"  // Clock

namespace hinetd::supervisor {

class ProcessTree {
 public:
  struct Entry {
    std::string service;
    pid_t child = 0;  // the monitor's child it descends from
    bool exited = false;
  };
  // A pid that is one of the monitor's own children: its service, and when
  // it was started (taken before its clone).
  struct DirectChild {
    std::string service;
    Clock::time_point started;
  };
  // The monitor's child with this pid now, or nullopt.
  using ChildLookup = std::function<std::optional<DirectChild>(pid_t)>;

  // Subscribes to fork and exit events (root: CAP_NET_ADMIN). Not fatal if
  // it cannot: available() is false then.
  void Open();
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] bool available() const { return fd_.valid(); }

  // Reads every event queued now (non-blocking, bounded) and updates the
  // table; `direct` says which pids are the monitor's children.
  //
  // The events need not be read as they come (the monitor reads them in
  // batches, proc_events.h's caller): each is judged as of the moment the
  // kernel stamped it. A fork by a pid that is a child now counts as the
  // child's only if it came after that child was started (the pid may
  // have been someone else's before), so the one rule for the caller is
  // to drain before it forgets a child (at its reap): a fork by a pid
  // that is no child any more is not attributed. Returns how many
  // datagrams it read (0: the queue was empty).
  size_t Drain(const ChildLookup& direct, Clock::time_point now);
  // Handles one event stamped `when`; public for tests.
  void OnFork(pid_t parent, pid_t child, const ChildLookup& direct, Clock::time_point when);
  void OnExit(pid_t pid, Clock::time_point when);

  // The entry of a descendant of some child (alive, or exited lately).
  [[nodiscard]] const Entry* Find(pid_t pid) const;
  // Events the kernel dropped (the socket's buffer overflowed) since the
  // last call; a descendant forked then is not in the table.
  [[nodiscard]] uint64_t TakeLost();
  // Descendants not added because the table was full, since the last call.
  [[nodiscard]] uint64_t TakeOverflow();
  [[nodiscard]] size_t size() const { return table_.size(); }

  // How long an exited descendant stays in the table: longer than a kill
  // record can trail the exit (Options::seccomp_record_wait).
  static constexpr std::chrono::seconds kRetention{10};
  static constexpr size_t kMaxEntries = 65536;

 private:
  void Expire(Clock::time_point now);

  // The kernel stamps events with its CLOCK_MONOTONIC; the monitor's clock
  // is the same one, unless it runs in a time namespace (then this is the
  // difference, measured on the subscription's acknowledgement).
  [[nodiscard]] Clock::time_point EventTime(uint64_t timestamp_ns) const;

  base::UniqueFd fd_;
  std::chrono::nanoseconds clock_offset_{0};
  std::unordered_map<pid_t, Entry> table_;
  std::deque<std::pair<Clock::time_point, pid_t>> exits_;  // in exit order
  uint64_t lost_ = 0;
  uint64_t overflow_ = 0;
};

}  // namespace hinetd::supervisor
