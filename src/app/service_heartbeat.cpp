// SPDX-License-Identifier: Apache-2.0
#include "app/service_heartbeat.h"

#include <algorithm>

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

// STATUS= lines are rate-limited to one a second.
constexpr auto kStatusEvery = 1s;

}  // namespace

void ServiceHeartbeat::addLane(const void* lane) {
  std::lock_guard lock(mu_);
  lanes_.try_emplace(lane);
}

void ServiceHeartbeat::removeLane(const void* lane) {
  std::lock_guard lock(mu_);
  lanes_.erase(lane);
}

bool ServiceHeartbeat::everyLaneBeatSince(SteadyTime t) const {
  return std::all_of(lanes_.begin(), lanes_.end(),
                     [t](const auto& entry) { return entry.second.last >= t; });
}

std::string ServiceHeartbeat::statusText() const {
  std::map<std::string, size_t> counts;
  size_t jobs = 0;
  for (const auto& [lane, beat] : lanes_) {
    for (const auto& [status, n] : beat.counts) counts[status] += n;
    jobs += beat.jobs;
  }
  const size_t pending = sources_.hooks_pending ? sources_.hooks_pending() : 0;
  std::string text = formatServiceStatus(counts, jobs, pending);
  if (sources_.state_failing && sources_.state_failing()) {
    text += "; state writes failing (see the log)";
  }
  if (sources_.fleet_note) text += sources_.fleet_note();
  return text;
}

SteadyTime ServiceHeartbeat::beat(const void* lane, SteadyTime now,
                                  const scheduler::PollEngine& engine) {
  if (!notifier_.enabled()) return SteadyTime::max();
  std::lock_guard lock(mu_);
  LaneBeat& mine = lanes_[lane];
  mine.last = now;
  if (now >= mine.next_counts) {
    mine.next_counts = now + kStatusEvery;
    mine.counts = engine.statusCounts();
    mine.jobs = engine.jobCount();
  }
  const auto watchdog = notifier_.watchdogInterval();
  if (watchdog && now >= next_watchdog_ && everyLaneBeatSince(last_watchdog_)) {
    notifier_.watchdog();
    last_watchdog_ = now;
    next_watchdog_ = now + *watchdog;
  }
  if (now >= next_status_) {
    next_status_ = now + kStatusEvery;
    std::string text = statusText();
    if (text != last_status_) {
      notifier_.status(text);
      last_status_ = std::move(text);
    }
  }
  SteadyTime next = std::min(next_status_, mine.next_counts);
  if (watchdog) {
    // Due later: come back then. Due already but waiting for another lane:
    // that lane's beat sends it (each lane beats at least once per
    // interval); this one looks again an interval on.
    next = std::min(next, next_watchdog_ > now ? next_watchdog_ : now + *watchdog);
  }
  return next;
}

}  // namespace jobwatch::app
