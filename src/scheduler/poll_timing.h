// SPDX-License-Identifier: Apache-2.0
// Pure scheduling arithmetic: when is a job next due, how long to back off,
// how to spread new jobs. No clocks, no state beyond the caller's RNG.
//
// Thread-safety: pure functions; the Rng is the caller's.
#pragma once

#include <chrono>
#include <optional>
#include <random>

#include "util/clock.h"
#include "util/duration.h"

namespace jobwatch::scheduler {

using Rng = std::mt19937_64;

// interval scaled by a uniform factor in [1 - jitter, 1 + jitter].
Millis jitteredInterval(Millis interval, double jitter, Rng& rng);

// Delay before retrying a job after `consecutive_errors` (>= 1) failures in
// a row: d = min(cap, base * 2^errors) with base = max(interval, 1s), and
// the wait drawn from [d/2, d] ("equal jitter": spread out, yet never
// sooner than half the exponential step, so a failing API is not hammered).
Millis backoffDelay(int consecutive_errors, Millis interval, Millis cap, Rng& rng);

// Offset in [0, interval) for a job added at start-up, so a large watch
// list does not poll in one burst.
Millis initialSpread(Millis interval, Rng& rng);

// How long a Retry-After pause may last. Honoured as sent, bounded so a
// hostile or broken header cannot stop polling for days.
inline constexpr std::chrono::seconds kMaxRetryAfter{3600};

// Pause after a 429/503: Retry-After when given and positive (at most
// kMaxRetryAfter), otherwise max(interval, 1s) bounded by cap. Any value is
// safe (fuzzed: tests/fuzz/rate_limit_fuzzer.cpp).
Millis rateLimitPause(std::optional<std::chrono::seconds> retry_after, Millis interval, Millis cap);

// A classic token bucket: `rate` tokens per second, holding at most
// max(1, rate) tokens (one second's worth), starting full. Rate <= 0 means
// unlimited.
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, SteadyTime now);

  bool tryTake(SteadyTime now);
  // Returns a token taken for a request that was never sent.
  void giveBack();
  // When the next token will be available (now if one is).
  SteadyTime nextTokenAt(SteadyTime now) const;
  void setRate(double rate_per_second, SteadyTime now);
  bool unlimited() const { return rate_ <= 0; }

 private:
  void refill(SteadyTime now);

  double rate_;
  double capacity_;
  double tokens_;
  SteadyTime last_;
};

}  // namespace jobwatch::scheduler
