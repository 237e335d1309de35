// SPDX-License-Identifier: Apache-2.0
// OperatorFeed: what `jobwatchd status` says about the API that the engine
// does not keep: requests made in the last minute (per-second buckets) and
// the time of the last poll the API answered. A PollEvents listener.
//
// Thread-safety: the scheduler thread only (events and reads alike; the
// control server reads it through a posted command).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "scheduler/poll_events.h"
#include "util/clock.h"

namespace jobwatch::app {

class OperatorFeed final : public scheduler::PollEvents {
 public:
  explicit OperatorFeed(const Clock& clock) : clock_(clock) {}
  void onPollFinished(const scheduler::PollFinished& poll) override;
  void onTransition(const scheduler::StatusTransition& /*transition*/) override {}

  size_t requestsLastMinute() const;
  std::optional<WallTime> lastSuccess() const { return last_success_; }

 private:
  static constexpr size_t kSeconds = 60;
  std::int64_t secondNow() const;

  const Clock& clock_;
  std::array<size_t, kSeconds> count_{};
  std::array<std::int64_t, kSeconds> second_{};  // which second count_[i] is for
  std::optional<WallTime> last_success_;
};

}  // namespace jobwatch::app
