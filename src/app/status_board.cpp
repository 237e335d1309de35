// SPDX-License-Identifier: Apache-2.0
#include "app/status_board.h"

#include "api/poll_result.h"

namespace jobwatch::app {

StatusBoard::StatusBoard(const Clock& clock, std::vector<std::string> known_statuses)
    : clock_(clock), started_at_(clock.wallNow()), known_statuses_(std::move(known_statuses)) {}

void StatusBoard::onPollFinished(const scheduler::PollFinished& poll) {
  const bool up = api::apiAnswered(poll.result);
  const bool usable = poll.result == api::PollResultKind::kOk;
  const WallTime now = clock_.wallNow();
  std::lock_guard lock(mu_);
  api_up_ = up;
  if (usable) last_successful_poll_ = now;
}

void StatusBoard::onTransition(const scheduler::StatusTransition& t) {
  StatusPageTransition row{t.at, t.job.id, t.from, t.to, t.job.facts.pdf_name};
  std::lock_guard lock(mu_);
  if (recent_.size() >= kRecentTransitions) recent_.pop_front();
  recent_.push_back(std::move(row));
}

void StatusBoard::configReloaded(bool successful) {
  const WallTime now = clock_.wallNow();
  std::lock_guard lock(mu_);
  last_reload_at_ = now;
  last_reload_ok_ = successful;
}

void StatusBoard::setKnownStatuses(std::vector<std::string> known_statuses) {
  std::lock_guard lock(mu_);
  known_statuses_ = std::move(known_statuses);
}

void StatusBoard::fill(StatusPageModel& model) const {
  model.started_at = started_at_;
  std::lock_guard lock(mu_);
  model.api_up = api_up_;
  model.last_successful_poll = last_successful_poll_;
  model.last_reload_at = last_reload_at_;
  model.last_reload_ok = last_reload_ok_;
  model.known_statuses = known_statuses_;
  model.transitions.assign(recent_.rbegin(), recent_.rend());
}

}  // namespace jobwatch::app
