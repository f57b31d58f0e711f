// Pure admission-control building blocks, with time passed in so that tests
// can drive them with an injected clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace hinetd::supervisor {

// A token bucket: `count` new children per `period`, in bursts of at most
// `count`. Smooth (a token comes back every period/count), unlike a counter
// reset at each whole second (openSUSE/xinetd#24).
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(uint32_t count, std::chrono::milliseconds period, Clock::time_point now);

  // True, and one token fewer, if another child may start at `now`.
  [[nodiscard]] bool TryAcquire(Clock::time_point now);
  // True if TryAcquire would succeed at `now` (spends nothing).
  [[nodiscard]] bool Available(Clock::time_point now);
  // How long from `now` until TryAcquire would succeed (zero if it would now).
  [[nodiscard]] std::chrono::nanoseconds UntilNext(Clock::time_point now);
  // The tokens at `now`, and setting them (carrying a bucket across a
  // listener restart).
  [[nodiscard]] double tokens(Clock::time_point now);
  void SetTokens(double tokens, Clock::time_point now);

 private:
  void Refill(Clock::time_point now);

  double capacity_;
  double tokens_;
  double tokens_per_ns_;
  Clock::time_point last_;
};

// Loop protection: a service whose children keep failing at once is paused
// after `limit` such ends in a row; one ordinary end clears the streak.
// A failure the service itself causes (it could not start, failed its setup,
// was killed by its filter, or its program exited 126 or 127, the shell's
// and the loader's "cannot execute" and "not found") always counts. One a
// client can cause (any other non-zero exit or a signal, e.g. after a reset
// connection) counts only if it comes from another client than the last
// counted one: a single client must not be able to pause a service for all.
class FailureStreak {
 public:
  enum class End { kOk, kServiceFault, kFailed };

  FailureStreak(int limit, std::chrono::milliseconds fast) : limit_(limit), fast_(fast) {}

  // Records one end of a child from `source` (the per_source key; empty if
  // unknown); true when the streak has just reached the limit (the caller
  // pauses the service, and the streak starts over).
  [[nodiscard]] bool Record(End end, std::chrono::nanoseconds lifetime, std::string_view source);
  [[nodiscard]] int streak() const { return streak_; }
  void Restore(int streak) { streak_ = streak < 0 ? 0 : (streak < limit_ ? streak : limit_ - 1); }

 private:
  int limit_;
  std::chrono::milliseconds fast_;
  int streak_ = 0;
  std::string last_source_;  // of the last failure counted
};

}  // namespace hinetd::supervisor
