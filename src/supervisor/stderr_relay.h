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

#include <string_view>
#include <unordered_map>

#include "base/log.h"
#include "supervisor/children.h"
#include "supervisor/stderr_limit.h"

namespace hinetd::supervisor {

class StderrRelay {
 public:
  explicit StderrRelay(base::Logger& log) : log_(log) {}

  // A child that executed: its pipe, c.stderr_fd (which the caller
  // watches), is read from now on.
  void Add(pid_t pid, const Child& c) { owner_[c.stderr_fd] = pid; }
  // Pipe `fd` is readable: one read, its whole lines logged (or counted);
  // at its end it is closed (Close).
  void OnReadable(int fd, Children& children);
  // The child is gone (or its pipe ended): what is left in the pipe is
  // read, logged, and the pipe closed (which also takes it out of any
  // epoll set). Nothing if it has none.
  void Close(pid_t pid, Child& c);

 private:
  // Logs one line of a child's stderr, or counts it if its rate is spent.
  void LogStderrLine(Child& c, pid_t pid, std::string_view line, Clock::time_point now);
  // Logs (or counts) the whole lines in c.stderr_partial and keeps the
  // rest; `final`: the rest too, as the pipe is closed.
  void LogStderrLines(Child& c, pid_t pid, Clock::time_point now, bool final);
  // Logs the count of its suppressed lines if one is due (`closing`: any).
  void ReportSuppressed(Child& c, pid_t pid, Clock::time_point now, bool closing);

  base::Logger& log_;
  std::unordered_map<int, pid_t> owner_;  // pipe -> child
  StderrLimiter limiter_;
};

}  // namespace hinetd::supervisor
