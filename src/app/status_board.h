// SPDX-License-Identifier: Apache-2.0
// StatusBoard: what the operator's status views (the status page; later
// `jobwatchd status`) show beyond the engine's own state, kept as it
// happens: API health and the last successful poll (from poll events), the
// most recent status transitions (a ring of kRecentTransitions), the last
// configuration reload, the status vocabulary, and when the daemon
// started. A PollEvents listener beside the transition log and the
// metrics feed.
//
// Thread-safety: events arrive on the scheduler thread, reloads on the
// control thread, snapshots are read from the metrics server's threads;
// every method takes the one mutex (held for copies only).
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/status_page.h"
#include "scheduler/poll_events.h"
#include "util/clock.h"

namespace jobwatch::app {

class StatusBoard final : public scheduler::PollEvents {
 public:
  static constexpr size_t kRecentTransitions = 50;

  StatusBoard(const Clock& clock, std::vector<std::string> known_statuses);

  void onPollFinished(const scheduler::PollFinished& poll) override;
  void onTransition(const scheduler::StatusTransition& transition) override;

  // A SIGHUP reload ended (applied or refused).
  void configReloaded(bool successful);
  // The configured status vocabulary (at start and after a reload).
  void setKnownStatuses(std::vector<std::string> known_statuses);

  // Fills the model's version-independent summary fields: started_at,
  // api_up, last_successful_poll, last reload, known_statuses and the
  // recent transitions (newest first).
  void fill(StatusPageModel& model) const;

 private:
  const Clock& clock_;
  const WallTime started_at_;
  mutable std::mutex mu_;
  std::optional<bool> api_up_;                    // guarded by mu_
  std::optional<WallTime> last_successful_poll_;  // guarded by mu_
  std::optional<WallTime> last_reload_at_;        // guarded by mu_
  bool last_reload_ok_ = true;                    // guarded by mu_
  std::vector<std::string> known_statuses_;       // guarded by mu_
  std::deque<StatusPageTransition> recent_;       // guarded by mu_; oldest first
};

}  // namespace jobwatch::app
