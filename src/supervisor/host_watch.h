// Descriptors whose events come from the whole host, not from hinetd: the
// kernel's process events (every fork and exit anywhere, proc_events.h),
// its log (every line any driver or program writes to /dev/kmsg) and its
// audit records (kmsg.h). Read as they come, a host that forks, logs, audits
// or kills its own processes a thousand times a second would wake the
// monitor as often.
//
// So each is watched one-shot (EPOLLONESHOT). Each read of one says what it
// found: nothing, something of hinetd's (the kill record of one of its
// processes), or only the host's business. After that last kind the source
// stays unwatched for its period; at the period's end it is read, and stays
// unwatched one more period if that read again found only the host's
// business, or is watched again if not. Sources of the same period share
// its end (one that goes quiet while another's period runs joins it): a
// host busy on all of them wakes the monitor once a period, whatever its
// rates; an idle host never. The monitor reads a source in between where it
// needs it (a child's reap, a killed child's record).
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

namespace hinetd::supervisor {

class HostWatch {
 public:
  using Clock = std::chrono::steady_clock;

  // What a read of a source found.
  enum class Found {
    kNothing,  // no event queued: watch it again
    kHost,     // only events of the host's business: quiet for a period
    kOurs,     // an event of hinetd's: keep watching
  };
  // The epoll events an armed source is watched for.
  static constexpr uint32_t kArmedEvents = EPOLLIN | EPOLLONESHOT;
  // Watches `fd` (epoll data `tag`) again; the monitor's epoll_ctl.
  using ArmFn = std::function<void(int fd, uint64_t tag)>;
  // Reads what is queued on `fd`.
  using ReadFn = std::function<Found(int fd)>;

  // A source, armed: the caller watches it with kArmedEvents.
  void Add(int fd, uint64_t tag, std::chrono::milliseconds period);
  [[nodiscard]] bool has(int fd) const { return Find(fd) != nullptr; }
  [[nodiscard]] bool armed(int fd) const;
  // `fd` woke the loop: EPOLLONESHOT disarmed it, and its period starts.
  // Said before it is read, so that a read that fails (out of memory)
  // leaves it to the period's end.
  void Fired(int fd, Clock::time_point now);
  // What the read after Fired found: unless only the host's business, the
  // source is watched again at once.
  void Settle(int fd, Found found, const ArmFn& arm);
  // Watches `fd` again now (what it carries is needed as it comes for the
  // moment); the caller has read what was queued.
  void Arm(int fd, const ArmFn& arm);
  // The earliest end of a quiet source's period (max(): none is quiet).
  [[nodiscard]] Clock::time_point due() const;
  // Reads every quiet source whose period has ended by `now`, and watches
  // again those whose read did not find only the host's business.
  void EndPeriods(Clock::time_point now, const ReadFn& read, const ArmFn& arm);

 private:
  struct Source {
    int fd;
    uint64_t tag;
    std::chrono::milliseconds period;
    bool armed = true;
    Clock::time_point due = Clock::time_point::max();  // while quiet
  };
  [[nodiscard]] const Source* Find(int fd) const;
  Source* Find(int fd);

  std::vector<Source> sources_;  // three at most
};

}  // namespace hinetd::supervisor
