// SPDX-License-Identifier: Apache-2.0
// Retry-After itself is parsed by libcurl (CURLINFO_RETRY_AFTER: seconds
// or an HTTP date), not by us, so there is no parser of ours to fuzz there.
// What we own is what happens to the number: the transport caps it, then
// scheduler::rateLimitPause turns it into a pause for every poll. This
// target feeds those, and the rest of the scheduling arithmetic that
// untrusted or configured numbers reach (backoffDelay, jitteredInterval,
// initialSpread, TokenBucket), arbitrary values and checks their bounds.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "fuzz_check.h"
#include "scheduler/poll_timing.h"

namespace {

using namespace std::chrono_literals;
using jobwatch::Millis;
namespace sched = jobwatch::scheduler;

// Reads the next value from the input (zero once it runs out).
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T take() {
    T value{};
    const size_t n = std::min(sizeof(T), size_);
    std::memcpy(&value, data_, n);
    data_ += n;
    size_ -= n;
    return value;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

// The ranges config validation allows (config/config.cpp): the scheduler
// never sees others.
Millis configured(Input& in, Millis lo, Millis hi) {
  const auto raw = in.take<uint64_t>();
  return lo + Millis(static_cast<Millis::rep>(raw % static_cast<uint64_t>((hi - lo).count() + 1)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const Millis interval = configured(in, 1ms, Millis(7LL * 24 * 3600 * 1000));
  const Millis cap = configured(in, 1ms, Millis(7LL * 24 * 3600 * 1000));

  // Retry-After: any value at all, as a header could carry.
  const auto flags = in.take<uint8_t>();
  const auto seconds = in.take<int64_t>();
  std::optional<std::chrono::seconds> retry_after;
  if (flags & 1) retry_after = std::chrono::seconds(seconds);
  const Millis pause = sched::rateLimitPause(retry_after, interval, cap);
  if (retry_after && retry_after->count() > 0) {
    FUZZ_CHECK(pause >= 1s && pause <= sched::kMaxRetryAfter);  // honoured, bounded
  } else {
    FUZZ_CHECK(pause.count() > 0 && pause <= std::max(cap, Millis(1)));  // never "retry now"
  }

  sched::Rng rng(in.take<uint64_t>());
  const int errors = in.take<int>();
  const Millis backoff = sched::backoffDelay(std::max(errors, 1), interval, cap, rng);
  FUZZ_CHECK(backoff.count() >= 0);
  FUZZ_CHECK(backoff <= std::max({cap, interval, Millis(1s)}));

  const double jitter = static_cast<double>(in.take<uint8_t>() % 101) / 100.0;  // 0 .. 1
  const Millis jittered = sched::jitteredInterval(interval, jitter, rng);
  FUZZ_CHECK(jittered.count() >= 0 && jittered <= interval * 2);
  const Millis spread = sched::initialSpread(interval, rng);
  FUZZ_CHECK(spread.count() >= 0 && spread < std::max(interval, Millis(1)));

  // Token bucket: any configured rate (N/s or N/min, 0 = off), any steps.
  const double rate = static_cast<double>(in.take<uint32_t>() % 1000000) / 60.0;
  jobwatch::SteadyTime now{};
  sched::TokenBucket bucket(rate, now);
  for (int i = 0; i < 32; ++i) {
    now += Millis(in.take<uint16_t>());
    const jobwatch::SteadyTime next = bucket.nextTokenAt(now);
    FUZZ_CHECK(next >= now);
    // The engine waits until nextTokenAt() after a failed tryTake(): the two
    // must agree, or it would spin (told "now") or stall.
    const bool took = bucket.tryTake(now);
    FUZZ_CHECK(took == (next == now));
    if (in.take<uint8_t>() == 0) bucket.setRate(static_cast<double>(in.take<uint16_t>()), now);
  }
  return 0;
}
