#include "supervisor/service_state.h"

#include <algorithm>
#include <sstream>
#include <string_view>
#include <unordered_map>

namespace hinetd::supervisor {

ServiceStates CarryOver(const ServiceStates& old, const std::vector<config::Service>& services) {
  ServiceStates states;
  states.reserve(services.size());
  auto now = Clock::now();
  // By name, the first of a name as a search from the front finds it: a
  // reload of N services is N lookups, not N*N comparisons. Keys are copies:
  // the loop below assigns the names of the states they name.
  std::unordered_map<std::string, const std::shared_ptr<ServiceState>*> by_name;
  by_name.reserve(old.size());
  for (const auto& s : old) by_name.emplace(s->name, &s);
  for (const auto& svc : services) {
    auto it = by_name.find(svc.name);
    states.push_back(it != by_name.end() ? *it->second : std::make_shared<ServiceState>());
    ServiceState& st = *states.back();
    st.name = svc.name;
    bool same = st.rate_config.has_value() == svc.rate.has_value() &&
                (!svc.rate || (st.rate_config->count == svc.rate->count &&
                               st.rate_config->period == svc.rate->period));
    if (!same) {
      st.rate_config = svc.rate;
      st.rate.reset();
      if (svc.rate) st.rate.emplace(svc.rate->count, svc.rate->period, now);
      // A pause of the old rate does not outlive it.
      if (st.pause == Pause::kRate) st.paused_until = now;
    }
    if (st.pause != Pause::kNone) {
      st.paused_until = std::min(st.paused_until, st.paused_at + svc.backoff);
    }
  }
  return states;
}

std::string SerializeState(const ServiceStates& states) {
  // Times travel as "milliseconds from now": both processes share the clock.
  auto now = Clock::now();
  auto ms = [&](Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
  };
  std::ostringstream out;
  for (const auto& s : states) {
    out << s->name << ' ' << s->accepted << ' ' << s->refused_acl << ' ' << s->refused_per_source
        << ' ' << s->refused_reflection << ' ' << s->paused_rate << ' ' << s->paused_failing << ' '
        << s->held_capacity << ' ' << s->setup_failures << ' ' << s->seccomp_kills << ' '
        << s->timeouts << ' ' << static_cast<int>(s->pause) << ' ' << ms(s->paused_at) << ' '
        << ms(s->paused_until) << ' ' << s->failures.streak() << ' '
        << (s->rate ? s->rate->tokens(now) : -1.0) << '\n';
  }
  return out.str();
}

void ApplySerializedState(const std::string& text, ServiceStates& states,
                          const std::vector<config::Service>& services) {
  // Offsets in milliseconds are clamped before they become durations: the
  // conversion to the clock's nanoseconds would overflow (undefined) on a
  // forged one near INT64_MAX. A year back is further than any real pause.
  constexpr int64_t kFarPastMs = int64_t{365} * 24 * 3600 * 1000;
  auto now = Clock::now();
  std::unordered_map<std::string_view, ServiceState*> state_of;
  state_of.reserve(states.size());
  for (const auto& s : states) state_of.emplace(s->name, s.get());
  std::unordered_map<std::string_view, const config::Service*> service_of;
  service_of.reserve(services.size());
  for (const auto& s : services) service_of.emplace(s.name, &s);
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string name;
    ServiceState v;
    int pause = 0;
    int64_t paused_at = 0;
    int64_t paused_until = 0;
    int streak = 0;
    double tokens = -1;
    f >> name >> v.accepted >> v.refused_acl >> v.refused_per_source >> v.refused_reflection >>
        v.paused_rate >> v.paused_failing >> v.held_capacity >> v.setup_failures >>
        v.seccomp_kills >> v.timeouts >> pause >> paused_at >> paused_until >> streak >> tokens;
    if (!f || pause < 0 || pause > 2) continue;  // malformed: ignore the line
    auto it = state_of.find(name);
    auto found = service_of.find(name);
    if (it == state_of.end() || found == service_of.end()) continue;
    const config::Service* svc = found->second;
    ServiceState& s = *it->second;
    auto counter = [](uint64_t n) { return std::min(n, kMaxStateCounter); };
    s.accepted = counter(v.accepted);
    s.refused_acl = counter(v.refused_acl);
    s.refused_per_source = counter(v.refused_per_source);
    s.refused_reflection = counter(v.refused_reflection);
    s.paused_rate = counter(v.paused_rate);
    s.paused_failing = counter(v.paused_failing);
    s.held_capacity = counter(v.held_capacity);
    s.setup_failures = counter(v.setup_failures);
    s.seccomp_kills = counter(v.seccomp_kills);
    s.timeouts = counter(v.timeouts);
    s.pause = static_cast<Pause>(pause);
    // A pause began in the past and lasts at most the backoff from now (as
    // CarryOver bounds it from its start): a forged "paused for ever" ends.
    int64_t backoff_ms = std::clamp<int64_t>(svc->backoff.count(), 0, kFarPastMs);
    paused_at = std::clamp<int64_t>(paused_at, -kFarPastMs, 0);
    paused_until = std::clamp<int64_t>(paused_until, -kFarPastMs, backoff_ms);
    s.paused_at = now + std::chrono::milliseconds(paused_at);
    s.paused_until = now + std::chrono::milliseconds(paused_until);
    s.failures.Restore(streak);
    if (s.rate && tokens >= 0) s.rate->SetTokens(tokens, now);  // clamped to the bucket
  }
}

}  // namespace hinetd::supervisor
