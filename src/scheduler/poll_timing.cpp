// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_timing.h"

#include <algorithm>
#include <cmath>

namespace jobwatch::scheduler {

using namespace std::chrono_literals;

Millis jitteredInterval(Millis interval, double jitter, Rng& rng) {
  if (jitter <= 0 || interval.count() <= 0) return interval;
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  return Millis(static_cast<Millis::rep>(std::llround(interval.count() * factor(rng))));
}

Millis backoffDelay(int consecutive_errors, Millis interval, Millis cap, Rng& rng) {
  const Millis base = std::max<Millis>(interval, 1s);
  const int exponent = std::clamp(consecutive_errors, 0, 30);
  const double step =
      std::min<double>(static_cast<double>(cap.count()),
                       static_cast<double>(base.count()) * std::ldexp(1.0, exponent));
  const double ceiling = std::max(step, static_cast<double>(std::min(base, cap).count()));
  std::uniform_real_distribution<double> draw(ceiling / 2, ceiling);
  return Millis(static_cast<Millis::rep>(std::llround(draw(rng))));
}

Millis initialSpread(Millis interval, Rng& rng) {
  if (interval.count() <= 1) return 0ms;
  std::uniform_int_distribution<Millis::rep> draw(0, interval.count() - 1);
  return Millis(draw(rng));
}

Millis rateLimitPause(std::optional<std::chrono::seconds> retry_after, Millis interval,
                      Millis cap) {
  // Bounded in seconds: converting a huge value to milliseconds first would
  // overflow. Zero or negative ("retry now", or a date in the past) gets the
  // same pause as no Retry-After: never an immediate retry after a 429.
  if (retry_after && retry_after->count() > 0) {
    return std::min(*retry_after, kMaxRetryAfter);
  }
  return std::min<Millis>(std::max<Millis>(interval, 1s), cap);
}

TokenBucket::TokenBucket(double rate_per_second, SteadyTime now)
    : rate_(rate_per_second),
      capacity_(std::max(1.0, rate_per_second)),
      tokens_(capacity_),
      last_(now) {}

void TokenBucket::refill(SteadyTime now) {
  if (now <= last_) return;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(capacity_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::tryTake(SteadyTime now) {
  if (unlimited()) return true;
  refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void TokenBucket::giveBack() {
  if (!unlimited()) tokens_ = std::min(capacity_, tokens_ + 1.0);
}

SteadyTime TokenBucket::nextTokenAt(SteadyTime now) const {
  if (unlimited()) return now;
  const double elapsed = now > last_ ? std::chrono::duration<double>(now - last_).count() : 0.0;
  const double have = std::min(capacity_, tokens_ + elapsed * rate_);
  if (have >= 1.0) return now;
  const double wait_s = (1.0 - have) / rate_;
  return now +
         std::chrono::duration_cast<SteadyTime::duration>(std::chrono::duration<double>(wait_s)) +
         1us;
}

void TokenBucket::setRate(double rate_per_second, SteadyTime now) {
  refill(now);
  rate_ = rate_per_second;
  capacity_ = std::max(1.0, rate_per_second);
  tokens_ = std::min(tokens_, capacity_);
}

}  // namespace jobwatch::scheduler
