// The hand-over state a listener sends at a reload, read back by the
// monitor: honest values survive, forged ones are bounded (a pause starts
// no later than now and ends within the backoff, no chrono overflow on
// huge offsets, counters bounded), malformed lines are ignored.
#include "supervisor/service_state.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;

std::vector<config::Service> Services() {
  std::vector<config::Service> services(2);
  services[0].name = "echo";
  services[0].backoff = milliseconds(10'000);
  services[0].rate = config::Service::Rate{5, milliseconds(1000)};
  services[1].name = "daytime";
  services[1].backoff = milliseconds(2'000);
  return services;
}

// One line as SerializeState writes it: name, ten counters, pause,
// paused_at and paused_until (ms from now), streak, tokens.
std::string Line(const std::string& name, const std::string& counters, int pause,
                 const std::string& at, const std::string& until, const std::string& streak = "0",
                 const std::string& tokens = "-1") {
  return name + " " + counters + " " + std::to_string(pause) + " " + at + " " + until + " " +
         streak + " " + tokens + "\n";
}

const std::string kTenOnes = "1 1 1 1 1 1 1 1 1 1";

TEST(ServiceState, HonestStateSurvivesARoundTrip) {
  auto services = Services();
  ServiceStates before = CarryOver({}, services);
  before[0]->accepted = 42;
  before[0]->timeouts = 3;
  before[0]->pause = Pause::kFailing;
  before[0]->paused_at = Clock::now() - milliseconds(1000);
  before[0]->paused_until = Clock::now() + milliseconds(5000);
  ASSERT_TRUE(before[0]->rate->TryAcquire(Clock::now()));
  std::string text = SerializeState(before);

  ServiceStates after = CarryOver({}, services);
  auto t0 = Clock::now();
  ApplySerializedState(text, after, services);
  EXPECT_EQ(after[0]->accepted, 42u);
  EXPECT_EQ(after[0]->timeouts, 3u);
  EXPECT_EQ(after[0]->pause, Pause::kFailing);
  // Times travel in milliseconds; allow for the rounding and the time passed.
  EXPECT_NEAR(std::chrono::duration<double>(after[0]->paused_until - t0).count(), 5.0, 0.1);
  EXPECT_NEAR(std::chrono::duration<double>(t0 - after[0]->paused_at).count(), 1.0, 0.1);
  EXPECT_NEAR(after[0]->rate->tokens(Clock::now()), 4.0, 0.1);
  EXPECT_EQ(after[1]->pause, Pause::kNone);
}

TEST(ServiceState, AForgedPauseStartsByNowAndEndsWithinTheBackoff) {
  auto services = Services();
  ServiceStates states = CarryOver({}, services);
  // In the future, and "for ever": a service the listener could keep shut.
  std::string text = Line("echo", kTenOnes, 2, "3600000", "86400000000") +
                     Line("daytime", kTenOnes, 1, "0", "999999999");
  auto t0 = Clock::now();
  ApplySerializedState(text, states, services);
  auto t1 = Clock::now();
  EXPECT_EQ(states[0]->pause, Pause::kFailing);
  EXPECT_LE(states[0]->paused_at, t1);
  EXPECT_LE(states[0]->paused_until, t1 + milliseconds(10'000));
  EXPECT_GE(states[0]->paused_until, t0 + milliseconds(10'000));  // clamped, not dropped
  EXPECT_LE(states[1]->paused_until, t1 + milliseconds(2'000));   // its own backoff
}

TEST(ServiceState, HugeOffsetsDoNotOverflow) {
  // Milliseconds near INT64_MAX would overflow the clock's nanoseconds
  // (undefined behaviour; UBSan would say so): clamped first.
  auto services = Services();
  ServiceStates states = CarryOver({}, services);
  std::string max = std::to_string(std::numeric_limits<int64_t>::max());
  std::string min = std::to_string(std::numeric_limits<int64_t>::min());
  auto t0 = Clock::now();
  ApplySerializedState(Line("echo", kTenOnes, 1, max, max) + Line("daytime", kTenOnes, 1, min, min),
                       states, services);
  auto t1 = Clock::now();
  EXPECT_LE(states[0]->paused_at, t1);
  EXPECT_GE(states[0]->paused_at, t0 - milliseconds(1));
  EXPECT_LE(states[0]->paused_until, t1 + milliseconds(10'000));
  // Far in the past, but a real point in time: the pause is simply over.
  EXPECT_LE(states[1]->paused_until, t1);
  EXPECT_GE(states[1]->paused_until, t0 - std::chrono::hours(24 * 366));
  EXPECT_LE(states[1]->paused_at, states[1]->paused_until + milliseconds(1));
}

TEST(ServiceState, CountersAndTokensAreBounded) {
  auto services = Services();
  ServiceStates states = CarryOver({}, services);
  std::string huge = std::to_string(std::numeric_limits<uint64_t>::max());
  std::string counters = huge + " " + huge + " -1 1 1 1 1 1 1 " + huge;
  ApplySerializedState(Line("echo", counters, 0, "0", "0", "1000000", "1e300"), states, services);
  EXPECT_EQ(states[0]->accepted, kMaxStateCounter);
  EXPECT_EQ(states[0]->refused_acl, kMaxStateCounter);
  EXPECT_EQ(states[0]->refused_per_source, kMaxStateCounter);  // "-1" wraps, then is bounded
  EXPECT_EQ(states[0]->refused_reflection, 1u);
  EXPECT_EQ(states[0]->timeouts, kMaxStateCounter);
  EXPECT_LT(states[0]->failures.streak(), 10);  // below the loop protection's limit
  EXPECT_LE(states[0]->rate->tokens(Clock::now()), 5.0);  // at most the burst
}

TEST(ServiceState, MalformedAndUnknownLinesAreIgnored) {
  auto services = Services();
  ServiceStates states = CarryOver({}, services);
  std::string text = Line("echo", kTenOnes, 7, "0", "0") +       // no such pause
                     "echo 1 2 3\n" +                             // too short
                     Line("echo", kTenOnes, 1, "0", "1e9") +      // not an integer offset
                     Line("unknown", kTenOnes, 1, "0", "1000") +  // no such service
                     Line("daytime", "9 9 9 9 9 9 9 9 9 9", 0, "0", "0");
  ApplySerializedState(text, states, services);
  EXPECT_EQ(states[0]->accepted, 0u);
  EXPECT_EQ(states[0]->pause, Pause::kNone);
  EXPECT_EQ(states[1]->accepted, 9u);
}

}  // namespace
}  // namespace hinetd::supervisor
