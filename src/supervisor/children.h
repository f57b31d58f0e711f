// The monitor's record of each child it started, from the clone to the
// reap. It lives in a header of its own because more than one concern of
// the monitor reads it: the request checks (requests.h) count children and
// the wait sockets they hold, the stderr relay reads a child's pipe, the
// kill attribution names a dead process's service, and the stale wait
// children's idle check looks at the udp wait ones. The monitor alone adds
// and removes records, through its ChildTable (child_table.h).
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/types.h"
#include "base/unique_fd.h"
#include "net/address.h"
#include "spawn/plan.h"
#include "supervisor/protocol.h"
#include "supervisor/service_state.h"
#include "supervisor/stderr_limit.h"
#include "supervisor/wait_idle.h"

namespace hinetd::supervisor {

// Timeouts: when, and whose. A child's entry goes with the child, so that
// a pid the kernel reuses is never killed at another child's deadline.
using Deadlines = std::multimap<Clock::time_point, pid_t>;

struct Child {
  uint64_t request = 0;  // the listener's id of the request that started it
  std::string service;
  SourceKey source;
  bool wait = false;
  net::Endpoint wait_ep;
  std::string peer;
  Clock::time_point started;
  bool setup_failed = false;
  bool timed_out = false;
  std::optional<Deadlines::iterator> deadline;
  int stderr_fd = -1;
  // Still setting up (clone without waiting): its spawn slot and status
  // pipe, until FinishExec; the plans it reads (kept alive across a
  // reload) and the table index of its service there; its deadline.
  int exec_slot = -1;
  int exec_fd = -1;
  size_t service_index = 0;
  std::shared_ptr<const spawn::PlanSet> plans;
  std::shared_ptr<const config::Config> config;
  std::string chroot;  // the tree it runs in: a jail stays while a child uses it
  std::optional<Deadlines::iterator> setup_deadline;
  // Its status pipe is in the epoll set (its EOF wakes the monitor); until
  // then `unwatched` is its look entry in the ChildTable (child_table.h).
  bool exec_watched = false;
  std::optional<Deadlines::iterator> unwatched;
  // Its stderr pipe (stderr = "log") is read only at its reap until this
  // entry is due (the same delay): most inetd children end before, and
  // their pipe's end costs no wakeup then. Gone: watched from its exec on.
  std::optional<Deadlines::iterator> stderr_look;
  bool setup_timed_out = false;  // killed before it executed
  int setup_stop_signal = 0;     // ... because this signal stopped it
  bool pid_namespace = false;  // the init of its own PID namespace
  std::string stderr_partial;
  // Its share of the log, from its first stderr line on.
  std::optional<StderrLimiter::Stream> stderr_stream;
  // udp wait: its socket's inode, its ids, and what its plan was, to
  // tell after a reload whether it is stale (its service's plan changed,
  // or its service or address is gone); a stale one is ended when idle.
  ino_t wait_ino = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::shared_ptr<const std::string> plan_identity;
  bool stale = false;
  // Seen idle and sent SIGSTOP: looked at again once stopped (or let go
  // on at idle_stop_deadline); `mark` is what had been taken off its
  // socket before the first look.
  bool idle_stop_sent = false;
  Clock::time_point idle_stop_deadline{};
  ReceiveMark mark;
  bool stale_ended = false;  // TERM sent while idle; KILL at its deadline
  // udp nowait, in a PID namespace of its own: its socket, and the
  // socket's inode, to see when it is reaped whether datagrams of other
  // peers are left on it (udp_leftovers.h).
  base::UniqueFd handed;
  ino_t handed_ino = 0;
};

using Children = std::unordered_map<pid_t, Child>;

}  // namespace hinetd::supervisor
