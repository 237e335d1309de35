// SPDX-License-Identifier: Apache-2.0
#include "app/fleet_keeper.h"

#include <algorithm>
#include <map>
#include <memory>

namespace jobwatch::app {

namespace {

constexpr Millis kFirstRetry{250};
constexpr std::chrono::seconds kErrorLogInterval{30};

}  // namespace

FleetKeeper::FleetKeeper(state::StateStore& store, SchedulerPool& pool,
                         metrics::DaemonMetrics& metrics, Log& log, const Clock& clock,
                         Millis lease)
    : store_(store),
      pool_(pool),
      metrics_(metrics),
      log_(log),
      clock_(clock),
      lease_(lease),
      interval_(std::max<Millis>(lease / 3, Millis{100})) {
  pool_.setFleetTerms(1.0, SteadyTime{});  // nothing polls before the first good tick
}

FleetKeeper::~FleetKeeper() { stop(); }

void FleetKeeper::start() {
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
}

void FleetKeeper::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  cv_.notify_all();
  thread_.join();
  if (auto left = store_.leaveFleet(); !left.ok()) {
    log_.warn(
        "could not leave the fleet: the others take this instance's jobs over after "
        "its lease",
        {{"error", left.error().message}, {"lease_ms", std::to_string(lease_.count())}});
  } else {
    log_.info("left the fleet", {{"jobs", std::to_string(held_.load())}});
  }
}

void FleetKeeper::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

std::vector<state::FleetMember> FleetKeeper::members() const {
  std::lock_guard lock(mu_);
  return members_;
}

std::string FleetKeeper::lastError() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void FleetKeeper::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const bool ok = tick();
    Millis pause = interval_;
    if (!ok) {
      backoff_ = backoff_ == Millis{0} ? kFirstRetry : std::min(backoff_ * 2, interval_);
      pause = backoff_;
    } else {
      backoff_ = Millis{0};
      // A newcomer's first interval: tick again as soon as it may poll.
      if (joined_ && clock_.now() < *joined_ + interval_) {
        pause = std::chrono::duration_cast<Millis>(*joined_ + interval_ - clock_.now()) + Millis{1};
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, stop, pause, [this] { return woken_; });
    woken_ = false;
  }
}

bool FleetKeeper::tick() {
  const SteadyTime started = clock_.now();
  auto result = store_.fleetTick(state::FleetTickOptions{});
  if (!result.ok()) {
    failed(result.error());
    return false;
  }
  if (!store_up_.exchange(true)) {
    log_.info("state store reachable again: polling resumes", {});
  }
  metrics_.stateUp(true);
  passOn(result.value(), started);
  if (after_tick_) after_tick_();
  return true;
}

void FleetKeeper::passOn(state::FleetTick& tick, SteadyTime started) {
  const bool first = !joined_.has_value();
  if (first) joined_ = started;
  const size_t live = std::max<size_t>(1, tick.members.size());
  // Past its first interval a member may poll until its lease may end.
  const SteadyTime until =
      started >= *joined_ + interval_ ? started + lease_ - interval_ / 2 : SteadyTime{};
  pool_.setFleetTerms(1.0 / static_cast<double>(live), until);

  if (!tick.lost.empty()) {
    log_.warn("jobs lost to another instance (this one did not renew its lease in time)",
              {{"jobs", std::to_string(tick.lost.size())}});
    auto ids = std::make_shared<std::vector<std::string>>(std::move(tick.lost));
    (void)pool_.postEach([ids](PollLane& lane) { lane.roster().release(*ids); });
  }
  if (!tick.claimed.empty()) {
    std::map<LanePtr, std::vector<state::StoredJob>> per_lane;
    size_t unconfigured = 0;
    for (auto& job : tick.claimed) {
      if (LanePtr lane = pool_.laneFor(job.account, job.id)) {
        per_lane[lane].push_back(std::move(job));
      } else {
        ++unconfigured;
      }
    }
    for (auto& [lane, jobs] : per_lane) {
      auto share = std::make_shared<std::vector<state::StoredJob>>(std::move(jobs));
      PollLane* raw = lane.get();
      (void)lane->post([raw, share] { raw->roster().adopt(*share); });
    }
    for (auto& record : tick.claimed_results) {
      if (LanePtr lane = pool_.laneFor(record.account, record.job_id)) {
        PollLane* raw = lane.get();
        auto box = std::make_shared<state::ResultRecord>(std::move(record));
        (void)lane->post([raw, box] { raw->engine().fetchResult(std::move(*box)); });
      }
    }
    log_.info(first ? "jobs held at start" : "jobs taken over",
              {{"jobs", std::to_string(tick.claimed.size())}});
    if (unconfigured > 0) {
      log_.warn("held jobs of an account that is not configured are not polled",
                {{"jobs", std::to_string(unconfigured)}});
    }
  }
  held_ = tick.held;
  metrics_.fleetObserved(tick.members.size(), tick.held);
  std::lock_guard lock(mu_);
  if (first || tick.members.size() != members_.size()) {
    log_.info(first ? "joined the fleet" : "fleet members changed",
              {{"instances", std::to_string(tick.members.size())},
               {"jobs_held", std::to_string(tick.held)}});
  }
  members_ = std::move(tick.members);
  last_error_.clear();
}

void FleetKeeper::failed(const Error& error) {
  const SteadyTime now = clock_.now();
  const bool was_up = store_up_.exchange(false);
  metrics_.stateUp(false);
  {
    std::lock_guard lock(mu_);
    last_error_ = error.message;
  }
  if (was_up || now - last_error_log_ >= kErrorLogInterval) {
    last_error_log_ = now;
    log_.error(
        "state store unreachable: polling stops once the lease runs out, and resumes "
        "when it answers",
        {{"error", error.message}, {"lease_ms", std::to_string(lease_.count())}});
  }
}

}  // namespace jobwatch::app
