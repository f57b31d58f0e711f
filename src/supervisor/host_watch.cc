#include "supervisor/host_watch.h"

#include <algorithm>
#include <utility>

namespace hinetd::supervisor {

void HostWatch::Add(int fd, uint64_t tag, std::chrono::milliseconds period) {
  sources_.push_back({fd, tag, period});
}

const HostWatch::Source* HostWatch::Find(int fd) const {
  for (const auto& s : sources_) {
    if (s.fd == fd) return &s;
  }
  return nullptr;
}

HostWatch::Source* HostWatch::Find(int fd) {
  return const_cast<Source*>(std::as_const(*this).Find(fd));
}

bool HostWatch::armed(int fd) const {
  const Source* s = Find(fd);
  return s != nullptr && s->armed;
}

void HostWatch::Fired(int fd, Clock::time_point now) {
  Source* s = Find(fd);
  if (s == nullptr || !s->armed) return;
  s->armed = false;
  // The running period of a quiet source of the same length, if any: one
  // wakeup at its end for both.
  s->due = now + s->period;
  for (const auto& q : sources_) {
    if (!q.armed && &q != s && q.period == s->period && q.due > now) s->due = std::min(s->due, q.due);
  }
}

void HostWatch::Settle(int fd, Found found, const ArmFn& arm) {
  if (found != Found::kHost) Arm(fd, arm);
}

void HostWatch::Arm(int fd, const ArmFn& arm) {
  Source* s = Find(fd);
  if (s == nullptr || s->armed) return;
  s->armed = true;
  s->due = Clock::time_point::max();
  // Events queued since the read are reported by the re-arm itself.
  arm(s->fd, s->tag);
}

HostWatch::Clock::time_point HostWatch::due() const {
  Clock::time_point next = Clock::time_point::max();
  for (const auto& s : sources_) {
    if (!s.armed) next = std::min(next, s.due);
  }
  return next;
}

void HostWatch::EndPeriods(Clock::time_point now, const ReadFn& read, const ArmFn& arm) {
  for (auto& s : sources_) {
    if (s.armed || s.due > now) continue;
    // Set before reading: a read that throws (out of memory) leaves the
    // source quiet with a period running, whose end tries again. The
    // sources read at this same end keep sharing their ends.
    s.due = now + s.period;
    if (read(s.fd) != Found::kHost) Arm(s.fd, arm);
  }
}

}  // namespace hinetd::supervisor
