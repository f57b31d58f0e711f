// The udp wait children a reload left behind. A wait child holds its
// service's socket itself, for as long as it likes; when a reload changes
// its service's plan (or removes its service or address), it is stale: it
// runs with what the table no longer says. It is ended, but only at a
// moment it holds no request (README "Reload"): every idle_check_period
// it is looked at (wait_idle.h) without being disturbed, and one that
// looks idle is stopped (SIGSTOP) and looked at again, as a datagram may
// come between a look and a signal; still idle then, and no datagram
// taken off its socket meanwhile, it is ended, else let go on (SIGCONT).
// A child whose plan came back at a later reload is not stale any more.
//
// This runs only while a stale child exists, never per connection.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "config/types.h"
#include "supervisor/children.h"
#include "supervisor/sockets.h"

namespace hinetd::supervisor {

class StaleWaitChildren {
 public:
  // Ends a stale child found idle: TERM now, KILL after the grace; the
  // monitor's, which owns the deadlines.
  using End = std::function<void(pid_t pid, Child& c)>;

  StaleWaitChildren(base::Logger& log, Children& children, std::chrono::milliseconds check_period,
                    std::chrono::milliseconds stop_wait, End end)
      : log_(log),
        children_(children),
        check_period_(check_period),
        stop_wait_(stop_wait),
        end_(std::move(end)) {}

  // After a reload installed `config` (`plan_identities` per service,
  // `sockets`): marks each udp wait child whose plan is not its service's
  // any more as stale (and one whose plan came back as not).
  void Mark(const config::Config& config,
            const std::vector<std::shared_ptr<const std::string>>& plan_identities,
            const SocketList& sockets);
  // The stale children's idle check, when due (next_check): one that looks
  // idle is stopped, then looked at again in FinishIdleStop.
  void Check(const SocketList& sockets, uint64_t generation);
  // A stale child stopped for its second look: ended (End) if it is still
  // idle and no datagram was taken off any socket since its first look,
  // else let go on. `generation`: the table's, for the log.
  void FinishIdleStop(pid_t pid, Child& c, const SocketList& sockets, uint64_t generation);
  // When Check is due next (max(): no stale child).
  [[nodiscard]] Clock::time_point next_check() const { return next_check_; }

 private:
  base::Logger& log_;
  Children& children_;
  std::chrono::milliseconds check_period_;
  std::chrono::milliseconds stop_wait_;
  End end_;
  Clock::time_point next_check_ = Clock::time_point::max();
};

}  // namespace hinetd::supervisor
