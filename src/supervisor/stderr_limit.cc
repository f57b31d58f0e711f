#include "supervisor/stderr_limit.h"

#include <algorithm>

namespace hinetd::supervisor {

size_t NextStderrLine(std::string_view buf, size_t max, bool final, std::string_view& line) {
  if (buf.empty() || max == 0) return 0;
  // A newline within the first max + 1 bytes ends a line of at most max.
  size_t nl = buf.substr(0, max + 1).find('\n');
  if (nl != std::string_view::npos) {
    line = buf.substr(0, nl);
    return nl + 1;
  }
  // More than max bytes without one: the first max are a line (waiting for
  // one byte more says whether a newline follows them).
  if (buf.size() > max || final) {
    line = buf.substr(0, std::min(buf.size(), max));
    return line.size();
  }
  return 0;
}

StderrLimiter::Stream StderrLimiter::Open(const std::string& service, Clock::time_point now) {
  auto it = services_.find(service);
  if (it == services_.end()) {
    it = services_.emplace(service, Service{RateLimiter(limits_.service_burst, limits_.refill, now), 0})
             .first;
  }
  ++it->second.open;
  return Stream(&it->second, limits_, now);
}

bool StderrLimiter::Admit(Stream& s, Clock::time_point now) {
  // Both buckets must have a token before either gives one: a line the
  // service's bucket refuses costs the child nothing.
  if (s.bucket_.Available(now) && s.service_->bucket.Available(now)) {
    (void)s.bucket_.TryAcquire(now);
    (void)s.service_->bucket.TryAcquire(now);
    return true;
  }
  if (s.suppressed_++ == 0) s.since_ = now;
  return false;
}

uint64_t StderrLimiter::TakeReport(Stream& s, Clock::time_point now, bool closing) {
  if (s.suppressed_ == 0) return 0;
  if (!closing && now - s.since_ < limits_.report_every) return 0;
  uint64_t n = s.suppressed_;
  s.suppressed_ = 0;
  return n;
}

void StderrLimiter::Close(const Stream& s, Clock::time_point now) {
  --s.service_->open;
  // Forget services no stream uses whose bucket has filled up again: one
  // made afresh is the same. Bounded by the services in the table.
  double full = static_cast<double>(limits_.service_burst) - 1e-6;
  for (auto it = services_.begin(); it != services_.end();) {
    if (it->second.open <= 0 && it->second.bucket.tokens(now) >= full) {
      it = services_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace hinetd::supervisor
