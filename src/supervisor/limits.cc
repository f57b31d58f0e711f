#include "supervisor/limits.h"

#include <algorithm>
#include <cmath>

namespace hinetd::supervisor {

RateLimiter::RateLimiter(uint32_t count, std::chrono::milliseconds period, Clock::time_point now)
    : capacity_(count),
      tokens_(count),
      tokens_per_ns_(static_cast<double>(count) /
                     static_cast<double>(std::chrono::nanoseconds(period).count())),
      last_(now) {}

void RateLimiter::Refill(Clock::time_point now) {
  if (now <= last_) return;
  double elapsed = static_cast<double>(std::chrono::nanoseconds(now - last_).count());
  tokens_ = std::min(capacity_, tokens_ + elapsed * tokens_per_ns_);
  last_ = now;
}

bool RateLimiter::TryAcquire(Clock::time_point now) {
  Refill(now);
  // A whole token is needed; the small epsilon absorbs rounding of the refill.
  if (tokens_ + 1e-9 < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

bool RateLimiter::Available(Clock::time_point now) {
  Refill(now);
  return tokens_ + 1e-9 >= 1.0;
}

std::chrono::nanoseconds RateLimiter::UntilNext(Clock::time_point now) {
  Refill(now);
  double missing = 1.0 - tokens_;
  if (missing <= 1e-9) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(missing / tokens_per_ns_)));
}

double RateLimiter::tokens(Clock::time_point now) {
  Refill(now);
  return tokens_;
}

void RateLimiter::SetTokens(double tokens, Clock::time_point now) {
  tokens_ = std::clamp(tokens, 0.0, capacity_);
  last_ = now;
}

bool FailureStreak::Record(End end, std::chrono::nanoseconds lifetime,
                           std::string_view source) {
  if (end == End::kOk || lifetime > fast_) {
    streak_ = 0;
    last_source_.clear();
    return false;
  }
  if (end == End::kFailed) {
    // A client's doing, perhaps: the same client again adds nothing.
    if (streak_ > 0 && source == last_source_) return false;
    last_source_.assign(source);
  }
  if (++streak_ < limit_) return false;
  streak_ = 0;
  last_source_.clear();
  return true;
}

}  // namespace hinetd::supervisor
