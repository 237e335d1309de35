// SPDX-License-Identifier: Apache-2.0
#include "app/service_heartbeat.h"

#include <algorithm>

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

// STATUS= lines are rate-limited to one a second.
constexpr auto kStatusEvery = 1s;

}  // namespace

SteadyTime ServiceHeartbeat::beat(SteadyTime now, const scheduler::PollEngine& engine) {
  if (!notifier_.enabled()) return SteadyTime::max();
  const auto watchdog = notifier_.watchdogInterval();
  if (watchdog && now >= next_watchdog_) {
    notifier_.watchdog();
    next_watchdog_ = now + *watchdog;
  }
  if (now >= next_status_) {
    next_status_ = now + kStatusEvery;
    const size_t pending = sources_.hooks_pending ? sources_.hooks_pending() : 0;
    std::string text = formatServiceStatus(engine.statusCounts(), engine.jobCount(), pending);
    if (sources_.state_failing && sources_.state_failing()) {
      text += "; state writes failing (see the log)";
    }
    if (text != last_status_) {
      notifier_.status(text);
      last_status_ = std::move(text);
    }
  }
  return watchdog ? std::min(next_status_, next_watchdog_) : next_status_;
}

}  // namespace jobwatch::app
