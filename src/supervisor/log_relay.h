// The monitor's end of the listener's log relay. The listener, chrooted into
// an empty directory, cannot reach syslog's /dev/log; with `--log syslog`
// it sends each line to the monitor instead (base::LogSink::kRelay), and
// the monitor writes it to its own log. The listener is the process that
// faces the network, so every message is treated as hostile: one line per
// message, "<P>event=NAME...", P a priority hinetd logs at (error, warning,
// info), at most base::kRelayLineMax bytes, every control or non-ASCII byte
// escaped (\xHH) so that it stays one line and shows what it holds, and at
// most kBurst lines, then kBurst per kPeriod. A message that fails is
// dropped and counted; the counts are logged as event=listener-log-dropped,
// at most once per kReportInterval.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/log.h"
#include "supervisor/limits.h"

namespace hinetd::supervisor {

class LogRelay {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint32_t kBurst = 2000;
  static constexpr std::chrono::seconds kPeriod{10};
  static constexpr std::chrono::seconds kReportInterval{10};

  LogRelay(base::Logger& log, Clock::time_point now);

  enum class ReadStatus { kEmpty, kMore, kClosed };
  // Reads up to `max` messages from `fd` (nonblocking, SOCK_SEQPACKET) and
  // takes each: kEmpty when none is left, kMore when `max` were read,
  // kClosed once the sending end is closed (or on an error).
  ReadStatus Read(int fd, int max, Clock::time_point now);

  // One message as received; `truncated`: it was longer than the buffer.
  void Take(std::string_view message, bool truncated, Clock::time_point now);

  // Logs the drops not reported yet, once kReportInterval has passed since
  // the last report.
  void ReportDrops(Clock::time_point now);
  // When ReportDrops has something to log, or time_point::max().
  [[nodiscard]] Clock::time_point next_report() const;

  [[nodiscard]] uint64_t dropped() const { return dropped_total_; }

  // The line a message holds if it is well formed (its priority in
  // `priority`), escaped; "" if it is not.
  [[nodiscard]] static std::string Check(std::string_view message, int& priority);

 private:
  void Drop(uint64_t& reason, Clock::time_point now);

  base::Logger& log_;
  RateLimiter rate_;
  uint64_t dropped_total_ = 0;
  // Since the last report.
  uint64_t malformed_ = 0;
  uint64_t too_long_ = 0;
  uint64_t over_rate_ = 0;
  Clock::time_point last_report_{};
  bool reported_ = false;  // a report has been written
};

}  // namespace hinetd::supervisor
