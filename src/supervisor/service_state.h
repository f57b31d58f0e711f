// Per-service admission state and counters. The listener owns it while it
// runs; at a reload it sends it to the monitor (STATE), which hands it to
// the next listener, so that counters, pauses and rate tokens survive.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/types.h"
#include "supervisor/limits.h"

namespace hinetd::supervisor {

using Clock = std::chrono::steady_clock;

// Why a service is not accepting for now.
enum class Pause { kNone, kRate, kFailing };

struct ServiceState {
  std::string name;
  int active = 0;
  // Children per client address (binary key), or per uid for unix:.
  std::unordered_map<std::string, int> per_source;
  std::optional<RateLimiter> rate;
  std::optional<config::Service::Rate> rate_config;  // what `rate` was built from
  FailureStreak failures{10, std::chrono::milliseconds(1000)};
  Pause pause = Pause::kNone;
  Clock::time_point paused_until{};
  Clock::time_point paused_at{};
  Clock::time_point capacity_logged{};

  uint64_t accepted = 0;
  uint64_t refused_acl = 0;
  uint64_t refused_per_source = 0;
  uint64_t refused_reflection = 0;
  uint64_t paused_rate = 0;     // times the rate paused the service
  uint64_t paused_failing = 0;  // times loop protection paused it
  uint64_t held_capacity = 0;   // times max_instances held a waiting client back
  uint64_t setup_failures = 0;
  uint64_t seccomp_kills = 0;
  uint64_t timeouts = 0;
};

using ServiceStates = std::vector<std::shared_ptr<ServiceState>>;

// States for a (new) service table: kept by name from `old`, new ones empty.
// A changed or removed rate starts a fresh bucket and ends a rate pause; a
// running pause ends no later than the new backoff allows.
[[nodiscard]] ServiceStates CarryOver(const ServiceStates& old,
                                      const std::vector<config::Service>& services);

// The counters, pauses, rate tokens and failure streaks of `states`, as text
// (one service per line), and back. Counts of running children are not part
// of it: the monitor rebuilds those from its own table.
[[nodiscard]] std::string SerializeState(const ServiceStates& states);
// The text comes from the listener, which the monitor does not trust: a
// pause starts no later than now and ends no later than now + the service's
// backoff (`services`, the table `states` belongs to), counters stay below
// kMaxStateCounter, and malformed lines are ignored.
void ApplySerializedState(const std::string& text, ServiceStates& states,
                          const std::vector<config::Service>& services);

// Counters above this are taken as this: no real count gets near it (2^53,
// exact in a double), and a forged one can never wrap.
inline constexpr uint64_t kMaxStateCounter = uint64_t{1} << 53;

}  // namespace hinetd::supervisor
