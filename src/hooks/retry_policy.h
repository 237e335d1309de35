// SPDX-License-Identifier: Apache-2.0
// RetryPolicy: when a failed hook run is tried again. The nominal delay
// doubles with each attempt, min(cap, base * 2^(attempts-1)); the delay
// used is drawn from [nominal/2, nominal], so retries of runs that failed
// together spread out, yet never come sooner than half the nominal delay.
//
// Thread-safety: a RetryPolicy (its random generator) is used by one
// thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace jobwatch::hooks {

class RetryPolicy {
 public:
  RetryPolicy(std::chrono::milliseconds base, std::chrono::milliseconds cap, std::uint64_t seed);

  // Whether a run that has been started `attempts` times may run again.
  static bool mayRetry(int attempts, int retries) {
    return attempts < 1 + (retries < 0 ? 0 : retries);
  }

  std::chrono::milliseconds nominal(int attempts) const;
  // The delay before the next run, after `attempts` runs (>= 1).
  std::chrono::milliseconds backoff(int attempts);

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  std::mt19937_64 rng_;
};

}  // namespace jobwatch::hooks
