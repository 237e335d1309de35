// SPDX-License-Identifier: Apache-2.0
// The time seam. Intervals and deadlines use the monotonic clock; timestamps
// shown to people or stored use the system clock. Production code receives a
// Clock& and never calls std::chrono::*::now() itself, so tests can drive
// time by hand with ManualClock.
//
// Thread-safety: SystemClock is stateless. ManualClock may be read from any
// thread while one test thread advances it.
#pragma once

#include <atomic>
#include <chrono>

namespace jobwatch {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;
  virtual WallTime wallNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to. Wall time advances with it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime wall_start = WallTime(std::chrono::seconds(1'800'000'000)))
      : wall_start_(wall_start) {}

  SteadyTime now() const override { return SteadyTime(offset()); }
  WallTime wallNow() const override {
    return wall_start_ + std::chrono::duration_cast<WallTime::duration>(offset());
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }

 private:
  std::chrono::nanoseconds offset() const { return std::chrono::nanoseconds(offset_ns_.load()); }

  WallTime wall_start_;
  // Starts at one day so that "now - interval" is never before the epoch.
  std::atomic<long long> offset_ns_{86'400'000'000'000LL};
};

}  // namespace jobwatch
