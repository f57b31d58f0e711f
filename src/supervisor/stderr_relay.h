// Children's standard error, for services with `stderr = "log"`: each
// child's pipe is read by the monitor and every line of it goes to
// hinetd's log (event=stderr), tagged with the service and the pid. A child
// can write far faster than a log can take, so the lines pass a rate limit
// (stderr_limit.h); those over it are counted and the count is logged
// (event=stderr-suppressed), so that nothing a child wrote vanishes without
// a trace. Reading is fair: one read per wakeup, however much a child
// writes, and a child's last words are read to their end once it is gone.
//
// The relay keeps which child each pipe belongs to; the pipe itself, and
// the part line read so far, stay with the child's record (children.h), as
// they live and die with it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string_view>
#include <unordered_map>

#include "base/log.h"
#include "supervisor/children.h"
#include "supervisor/stderr_limit.h"

namespace hinetd::supervisor {

class StderrRelay {
 public:
  // `unwatch` takes a pipe out of the caller's epoll set; it is called
  // before a watched pipe is closed (see EpollRemove in epoll_util.h: a
  // close alone can leave it registered).
  explicit StderrRelay(base::Logger& log, std::function<void(int)> unwatch = {})
      : log_(log), unwatch_(std::move(unwatch)) {}

  // A child that executed: its pipe, c.stderr_fd, is read from now on;
  // `watched`: the caller watches it (an unwatched one is read to its end
  // at the child's reap, or watched later: Watch).
  void Add(pid_t pid, const Child& c, bool watched) { owner_[c.stderr_fd] = {pid, watched}; }
  // The caller watches pipe `fd` from now on; false if it already did (or
  // the pipe is not a child's here).
  bool Watch(int fd);
  // Pipe `fd` is readable: one read, its whole lines logged (or counted);
  // at its end it is closed (Close).
  void OnReadable(int fd, Children& children);
  // The child is gone (or its pipe ended): what is left in the pipe is
  // read, logged, and the pipe unwatched and closed. Nothing if it has none.
  void Close(pid_t pid, Child& c);

 private:
  // Close, reading what is left first only if `drain`.
  void End(pid_t pid, Child& c, bool drain);
  // Logs one line of a child's stderr, or counts it if its rate is spent.
  void LogStderrLine(Child& c, pid_t pid, std::string_view line, Clock::time_point now);
  // Logs (or counts) the whole lines in c.stderr_partial and keeps the
  // rest; `final`: the rest too, as the pipe is closed.
  void LogStderrLines(Child& c, pid_t pid, Clock::time_point now, bool final);
  // Logs the count of its suppressed lines if one is due (`closing`: any).
  void ReportSuppressed(Child& c, pid_t pid, Clock::time_point now, bool closing);

  struct Owner {
    pid_t pid;
    bool watched;
  };
  base::Logger& log_;
  std::function<void(int)> unwatch_;
  std::unordered_map<int, Owner> owner_;  // pipe -> child
  StderrLimiter limiter_;
};

}  // namespace hinetd::supervisor
