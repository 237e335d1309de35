// SPDX-License-Identifier: Apache-2.0
#include "hooks/retry_policy.h"

#include <algorithm>

namespace jobwatch::hooks {

using std::chrono::milliseconds;

RetryPolicy::RetryPolicy(milliseconds base, milliseconds cap, std::uint64_t seed)
    : base_(base), cap_(cap), rng_(seed) {}

milliseconds RetryPolicy::nominal(int attempts) const {
  milliseconds delay = base_;
  for (int i = 1; i < attempts && delay < cap_; ++i) delay *= 2;
  return std::min(delay, cap_);
}

milliseconds RetryPolicy::backoff(int attempts) {
  const milliseconds delay = nominal(attempts);
  if (delay.count() <= 0) return milliseconds(0);
  std::uniform_int_distribution<long long> pick(delay.count() / 2, delay.count());
  return milliseconds(pick(rng_));
}

}  // namespace jobwatch::hooks
