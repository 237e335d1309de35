// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_timing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;

TEST(PollTiming, JitterStaysWithinBounds) {
  Rng rng(1);
  Millis lo = 10s, hi = 0s;
  for (int i = 0; i < 10000; ++i) {
    Millis d = jitteredInterval(5s, 0.1, rng);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_GE(lo, 4500ms);
  EXPECT_LE(hi, 5500ms);
  EXPECT_LT(lo, 4600ms) << "jitter should use its whole range";
  EXPECT_GT(hi, 5400ms);
  EXPECT_EQ(jitteredInterval(5s, 0, rng), 5s);
}

TEST(PollTiming, BackoffGrowsExponentiallyThenCaps) {
  Rng rng(2);
  for (int n = 1; n <= 12; ++n) {
    const double step = std::min(300000.0, 5000.0 * (1 << n));
    for (int i = 0; i < 200; ++i) {
      Millis d = backoffDelay(n, 5s, 5min, rng);
      EXPECT_GE(d.count(), step / 2 - 1) << "errors=" << n;
      EXPECT_LE(d.count(), step + 1) << "errors=" << n;
    }
  }
  EXPECT_LE(backoffDelay(1000, 5s, 5min, rng), 5min);
}

TEST(PollTiming, BackoffNeverBelowOneSecondBaseEvenWithZeroInterval) {
  Rng rng(3);
  EXPECT_GE(backoffDelay(1, 0ms, 5min, rng), 1s);
}

TEST(PollTiming, InitialSpreadCoversTheInterval) {
  Rng rng(4);
  int buckets[10] = {};
  for (int i = 0; i < 10000; ++i) {
    Millis d = initialSpread(5s, rng);
    ASSERT_GE(d, 0ms);
    ASSERT_LT(d, 5s);
    ++buckets[d.count() / 500];
  }
  for (int b : buckets) EXPECT_NEAR(b, 1000, 200);
}

TEST(PollTiming, RateLimitPauseHonoursRetryAfterWithinBounds) {
  EXPECT_EQ(rateLimitPause(std::chrono::seconds(2), 5s, 5min), 2s);
  EXPECT_EQ(rateLimitPause(std::chrono::seconds(900), 5s, 5min), 900s);
  EXPECT_EQ(rateLimitPause(std::chrono::seconds(999999), 5s, 5min), kMaxRetryAfter);
  EXPECT_EQ(rateLimitPause(std::nullopt, 5s, 5min), 5s);
  EXPECT_EQ(rateLimitPause(std::nullopt, 0ms, 5min), 1s);
}

// Regressions found by tests/fuzz/rate_limit_fuzzer.cpp (inputs in
// tests/fuzz/regressions/rate_limit/): a negative Retry-After gave a
// negative pause, a huge one overflowed converting to milliseconds.
TEST(PollTiming, RateLimitPauseIsNeverNegativeNorOverflows) {
  EXPECT_EQ(rateLimitPause(std::chrono::seconds(-5), 5s, 5min), 5s);
  EXPECT_EQ(rateLimitPause(std::chrono::seconds(0), 200ms, 2s), 1s);
  EXPECT_EQ(
      rateLimitPause(std::chrono::seconds(std::numeric_limits<std::int64_t>::min()), 5s, 5min), 5s);
  EXPECT_EQ(rateLimitPause(std::chrono::seconds(std::int64_t{1} << 62), 5s, 5min), kMaxRetryAfter);
  EXPECT_EQ(
      rateLimitPause(std::chrono::seconds(std::numeric_limits<std::int64_t>::max()), 5s, 5min),
      kMaxRetryAfter);
}

TEST(TokenBucket, AllowsRateOverTime) {
  SteadyTime t0{};
  TokenBucket bucket(2.0, t0);  // 2/s, holds 2
  EXPECT_TRUE(bucket.tryTake(t0));
  EXPECT_TRUE(bucket.tryTake(t0));
  EXPECT_FALSE(bucket.tryTake(t0));
  EXPECT_EQ(bucket.nextTokenAt(t0) - t0 >= 500ms, true);
  EXPECT_LE(bucket.nextTokenAt(t0) - t0, 501ms);
  EXPECT_FALSE(bucket.tryTake(t0 + 499ms));
  EXPECT_TRUE(bucket.tryTake(t0 + 500ms));
  int taken = 0;
  for (int ms = 500; ms <= 10750; ms += 10) taken += bucket.tryTake(t0 + Millis(ms));
  EXPECT_EQ(taken, 20);
}

TEST(TokenBucket, SlowRatesHoldOneToken) {
  SteadyTime t0{};
  TokenBucket bucket(100.0 / 60.0, t0);
  EXPECT_TRUE(bucket.tryTake(t0));
  EXPECT_FALSE(bucket.tryTake(t0));
  EXPECT_TRUE(bucket.tryTake(t0 + 600ms));
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  SteadyTime t0{};
  TokenBucket bucket(0, t0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(bucket.tryTake(t0));
  EXPECT_EQ(bucket.nextTokenAt(t0), t0);
}

}  // namespace
}  // namespace jobwatch::scheduler
