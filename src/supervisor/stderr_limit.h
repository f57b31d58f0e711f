// How much of their standard error (`stderr = "log"`) children may put in
// the log. A child can write lines far faster than anyone can read a log
// (one wrote ~500k a second): without a bound it floods the log, the disk
// or syslog behind it, and the monitor's time. So a line is logged only if
// a token bucket of its child's and one of its service's both hold a token;
// it takes one from each. Any other line is counted, never dropped without
// a trace: the count is logged (event=stderr-suppressed) when the child's
// stderr closes, and at most once every `report_every` while lines go on
// being suppressed, so that for each child the lines logged plus the counts
// reported are the lines it wrote.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "supervisor/limits.h"

namespace hinetd::supervisor {

// The first line of `buf` in `line`, and how many bytes it takes from
// `buf` (its newline too), or 0 if `buf` holds no whole line yet. A line
// longer than `max` bytes is cut every `max` bytes; `final` (the pipe is
// closed, nothing follows): what is left without a newline is a line.
[[nodiscard]] size_t NextStderrLine(std::string_view buf, size_t max, bool final,
                                    std::string_view& line);

struct StderrLimits {
  // A child's first `child_burst` lines are logged (a backtrace, a usage
  // message), then `child_burst` per `refill`: 100, then 10 a second.
  uint32_t child_burst = 100;
  // All children of a service together (the per-child bucket alone would
  // let a service log max_instances times as much): 1000, then 100 a
  // second. At these rates a flood from every service of a large
  // configuration stays within what syslog and a disk take in.
  uint32_t service_burst = 1000;
  std::chrono::milliseconds refill{10000};
  std::chrono::milliseconds report_every{10000};
};

class StderrLimiter {
  struct Service;

 public:
  using Clock = std::chrono::steady_clock;

  // One child's stderr, from its first line to its close.
  class Stream {
   public:
    // Lines suppressed and not yet reported.
    [[nodiscard]] uint64_t suppressed() const { return suppressed_; }

   private:
    friend class StderrLimiter;
    Stream(Service* service, const StderrLimits& limits, Clock::time_point now)
        : service_(service), bucket_(limits.child_burst, limits.refill, now) {}

    Service* service_;  // stays put: an entry goes only when no stream uses it
    RateLimiter bucket_;
    uint64_t suppressed_ = 0;
    Clock::time_point since_{};  // when the first unreported line was suppressed
  };

  explicit StderrLimiter(StderrLimits limits = {}) : limits_(limits) {}

  // A child of `service` has a line to log for the first time.
  [[nodiscard]] Stream Open(const std::string& service, Clock::time_point now);
  // One line of `s`: true if it may be logged; false if it is suppressed
  // (and counted).
  [[nodiscard]] bool Admit(Stream& s, Clock::time_point now);
  // The lines suppressed since the last report if a report is due at `now`
  // (`closing`: the stream ends, so any count is), and the count starts
  // again from zero; else 0.
  [[nodiscard]] uint64_t TakeReport(Stream& s, Clock::time_point now, bool closing);
  // The stream has ended (after its last TakeReport).
  void Close(const Stream& s, Clock::time_point now);

  // Services with a bucket held: those with a stream open, or whose bucket
  // is not full yet (forgetting it then would hand out a fresh burst).
  [[nodiscard]] size_t services_held() const { return services_.size(); }

 private:
  struct Service {
    RateLimiter bucket;
    int open = 0;
  };

  StderrLimits limits_;
  std::unordered_map<std::string, Service> services_;
};

}  // namespace hinetd::supervisor
