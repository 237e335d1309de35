// SPDX-License-Identifier: Apache-2.0
// OperatorFeed: what `jobwatchd status` and the status page say about the
// API and the configuration that the engine does not keep: requests made
// in the last minute (per-second buckets), the time of the last poll the
// API answered, whether any poll has finished since start, and the
// configured status vocabulary. The daemon's one operator-side PollEvents
// listener.
//
// Thread-safety: the scheduler thread only (events, the vocabulary set by
// the reload step, and reads alike; the control server and the status page
// read it through a posted command).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/poll_events.h"
#include "util/clock.h"

namespace jobwatch::app {

class OperatorFeed final : public scheduler::PollEvents {
 public:
  OperatorFeed(const Clock& clock, std::vector<std::string> known_statuses)
      : clock_(clock), known_statuses_(std::move(known_statuses)) {}
  void onPollFinished(const scheduler::PollFinished& poll) override;
  void onTransition(const scheduler::StatusTransition& /*transition*/) override {}

  size_t requestsLastMinute() const;
  std::optional<WallTime> lastSuccess() const { return last_success_; }
  // A poll has finished (any result) since start.
  bool polled() const { return polled_; }

  // The configured status vocabulary (at start and after each reload).
  const std::vector<std::string>& knownStatuses() const { return known_statuses_; }
  void setKnownStatuses(std::vector<std::string> known) { known_statuses_ = std::move(known); }

 private:
  static constexpr size_t kSeconds = 60;
  std::int64_t secondNow() const;

  const Clock& clock_;
  std::array<size_t, kSeconds> count_{};
  std::array<std::int64_t, kSeconds> second_{};  // which second count_[i] is for
  std::optional<WallTime> last_success_;
  bool polled_ = false;
  std::vector<std::string> known_statuses_;
};

}  // namespace jobwatch::app
