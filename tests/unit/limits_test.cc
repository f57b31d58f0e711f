#include "supervisor/limits.h"

#include <gtest/gtest.h>

namespace hinetd::supervisor {
namespace {

using std::chrono::milliseconds;
using TimePoint = RateLimiter::Clock::time_point;

TEST(RateLimiter, BurstThenOneTokenPerInterval) {
  TimePoint t0{};
  RateLimiter r(4, milliseconds(1000), t0);  // 4 per second
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.TryAcquire(t0)) << i;
  EXPECT_FALSE(r.TryAcquire(t0));
  EXPECT_FALSE(r.TryAcquire(t0 + milliseconds(249)));
  EXPECT_TRUE(r.TryAcquire(t0 + milliseconds(250)));  // one token back every 250 ms
  EXPECT_FALSE(r.TryAcquire(t0 + milliseconds(260)));
  // A long pause refills up to the burst, never beyond.
  TimePoint later = t0 + milliseconds(60'000);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.TryAcquire(later)) << i;
  EXPECT_FALSE(r.TryAcquire(later));
}

TEST(RateLimiter, PerMinuteRates) {
  TimePoint t0{};
  RateLimiter r(2, milliseconds(60'000), t0);
  EXPECT_TRUE(r.TryAcquire(t0));
  EXPECT_TRUE(r.TryAcquire(t0));
  EXPECT_FALSE(r.TryAcquire(t0 + milliseconds(29'999)));
  EXPECT_TRUE(r.TryAcquire(t0 + milliseconds(30'000)));
}

TEST(RateLimiter, TimeGoingBackwardsAddsNothing) {
  TimePoint t0 = TimePoint{} + milliseconds(5000);
  RateLimiter r(1, milliseconds(1000), t0);
  EXPECT_TRUE(r.TryAcquire(t0));
  EXPECT_FALSE(r.TryAcquire(t0 - milliseconds(4000)));
}

TEST(RateLimiter, AvailableSpendsNothingAndUntilNextSaysWhen) {
  TimePoint t0{};
  RateLimiter r(2, milliseconds(1000), t0);  // a token every 500 ms
  EXPECT_TRUE(r.Available(t0));
  EXPECT_TRUE(r.Available(t0));  // looking is free
  EXPECT_EQ(r.UntilNext(t0), std::chrono::nanoseconds(0));
  EXPECT_TRUE(r.TryAcquire(t0));
  EXPECT_TRUE(r.TryAcquire(t0));
  EXPECT_FALSE(r.Available(t0));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(r.UntilNext(t0)), milliseconds(500));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(r.UntilNext(t0 + milliseconds(200))),
            milliseconds(300));
  EXPECT_FALSE(r.Available(t0 + milliseconds(499)));
  EXPECT_TRUE(r.Available(t0 + milliseconds(500)));
}

TEST(RateLimiter, SetTokensIsClampedToTheBurst) {
  TimePoint t0{};
  RateLimiter r(3, milliseconds(1000), t0);
  r.SetTokens(10.0, t0);
  EXPECT_DOUBLE_EQ(r.tokens(t0), 3.0);
  r.SetTokens(-4.0, t0);
  EXPECT_DOUBLE_EQ(r.tokens(t0), 0.0);
  EXPECT_FALSE(r.TryAcquire(t0));
  r.SetTokens(1.0, t0);
  EXPECT_TRUE(r.TryAcquire(t0));
  EXPECT_FALSE(r.TryAcquire(t0));
}

TEST(FailureStreak, PausesAfterTheLimitAndAnOrdinaryEndClearsIt) {
  using End = FailureStreak::End;
  FailureStreak f(3, milliseconds(1000));
  EXPECT_FALSE(f.Record(End::kServiceFault, milliseconds(5), "a"));
  EXPECT_FALSE(f.Record(End::kServiceFault, milliseconds(5), "a"));
  EXPECT_TRUE(f.Record(End::kServiceFault, milliseconds(5), "a"));  // third in a row
  EXPECT_EQ(f.streak(), 0);                                          // starts over
  EXPECT_FALSE(f.Record(End::kServiceFault, milliseconds(5), "a"));
  EXPECT_FALSE(f.Record(End::kOk, milliseconds(5), "a"));  // a success clears it
  EXPECT_EQ(f.streak(), 0);
  EXPECT_FALSE(f.Record(End::kServiceFault, milliseconds(5), "a"));
  EXPECT_FALSE(f.Record(End::kServiceFault, milliseconds(2000), "a"));  // slow ones do not count
  EXPECT_EQ(f.streak(), 0);
}

TEST(FailureStreak, FailuresAClientCanCauseCountOncePerClientInARow) {
  using End = FailureStreak::End;
  FailureStreak f(3, milliseconds(1000));
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(f.Record(End::kFailed, milliseconds(5), "a")) << i;
  EXPECT_EQ(f.streak(), 1);
  EXPECT_FALSE(f.Record(End::kFailed, milliseconds(5), "b"));
  EXPECT_FALSE(f.Record(End::kFailed, milliseconds(5), "b"));  // b again: nothing
  EXPECT_EQ(f.streak(), 2);
  EXPECT_TRUE(f.Record(End::kFailed, milliseconds(5), "a"));  // a, after b, counts
  // The service's own faults count whoever the client.
  EXPECT_FALSE(f.Record(End::kFailed, milliseconds(5), "c"));
  EXPECT_FALSE(f.Record(End::kServiceFault, milliseconds(5), "c"));
  EXPECT_TRUE(f.Record(End::kServiceFault, milliseconds(5), "c"));
}

}  // namespace
}  // namespace hinetd::supervisor
