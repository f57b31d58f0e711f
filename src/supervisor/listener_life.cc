#include "supervisor/listener_life.h"

#include <algorithm>

namespace hinetd::supervisor {

void ListenerLife::Started(pid_t pid, Clock::time_point now) {
  pid_ = pid;
  started_ = now;
  ++starts_;
  restart_at_ = Clock::time_point::max();
}

void ListenerLife::StartFailed(Clock::time_point now) { restart_at_ = now + kMaxBackoff; }

void ListenerLife::Exited() {
  last_pid_ = pid_;
  pid_ = -1;
}

Clock::duration ListenerLife::Crashed(Clock::time_point now) {
  bool stable = now - started_ >= kStable;
  crashes_ = stable ? 1 : crashes_ + 1;
  Clock::duration delay{0};
  if (crashes_ > 1) {
    delay = std::min<Clock::duration>(kMaxBackoff,
                                      std::chrono::milliseconds(100 << std::min(crashes_ - 2, 10)));
  }
  restart_at_ = now + delay;
  return delay;
}

int CountChildren(const Children& children, SocketList& sockets, ServiceStates& services) {
  for (auto& s : sockets) s->busy = false;
  for (auto& st : services) {
    st->active = 0;
    st->per_source.clear();
  }
  for (const auto& [pid, c] : children) {
    if (c.wait) {
      for (auto& s : sockets) {
        if (s->transport == net::Transport::kUdp && s->ep == c.wait_ep) s->busy = true;
      }
    }
    auto st = std::find_if(services.begin(), services.end(),
                           [&](const auto& s) { return s->name == c.service; });
    if (st == services.end()) continue;
    ++(*st)->active;
    if (c.source.len > 0) ++(*st)->per_source[c.source.str()];
  }
  return static_cast<int>(children.size());
}

}  // namespace hinetd::supervisor
