// The listener process as the monitor sees it over its lives: which one
// runs and since when, the one before (a late audit record may name it),
// how many have been started, and after a crash when the next one is due.
// And what a new listener starts with that only the monitor knows: which
// udp wait sockets a child holds, and how many children each service has
// (a listener's counts are its own; a new one rebuilds them from here).
//
// The monitor forks and watches; this holds the decisions, so that a test
// can play a listener's lives without one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>

#include "supervisor/children.h"
#include "supervisor/protocol.h"
#include "supervisor/service_state.h"
#include "supervisor/sockets.h"

namespace hinetd::supervisor {

class ListenerLife {
 public:
  // A listener that ran this long before it crashed was stable: the next
  // crash restarts at once again.
  static constexpr Clock::duration kStable = std::chrono::seconds(30);
  // The longest wait before a restart, and the wait after a start that
  // failed (no fork, no socketpair).
  static constexpr Clock::duration kMaxBackoff = std::chrono::seconds(10);

  void Started(pid_t pid, Clock::time_point now);
  // A start that failed before a listener ran: another at most kMaxBackoff
  // later.
  void StartFailed(Clock::time_point now);
  // The listener was reaped (handed over, stopped or crashed): it is the
  // last one from now on.
  void Exited();
  // It crashed at `now` (not at a reload or a stop): how long until the
  // next one. The first crash after a stable run restarts at once; each
  // crash in a row after that waits twice as long, from 0.1 s up to
  // kMaxBackoff.
  Clock::duration Crashed(Clock::time_point now);

  [[nodiscard]] pid_t pid() const { return pid_; }            // -1: none runs
  [[nodiscard]] pid_t last_pid() const { return last_pid_; }  // -1: none yet
  [[nodiscard]] bool running() const { return pid_ > 0; }
  // When the next listener is due while none runs; max(): not yet decided.
  [[nodiscard]] Clock::time_point restart_at() const { return restart_at_; }
  [[nodiscard]] int crashes_in_a_row() const { return crashes_; }
  [[nodiscard]] uint64_t starts() const { return starts_; }

 private:
  pid_t pid_ = -1;
  pid_t last_pid_ = -1;
  Clock::time_point started_{};
  int crashes_ = 0;
  uint64_t starts_ = 0;
  Clock::time_point restart_at_ = Clock::time_point::max();
};

// What a new listener must know of the children that run now, in its copy
// of the sockets and services (those the last listener handed over): each
// udp socket a wait child holds is busy (by address, whatever the child's
// service is called now, as a reload may have renamed or removed it); each
// service's `active` and `per_source` count its children (a child of a
// service the table no longer has counts nowhere). What the copies held of
// these before is replaced. Returns the number of children, of every
// service.
int CountChildren(const Children& children, SocketList& sockets, ServiceStates& services);

}  // namespace hinetd::supervisor
