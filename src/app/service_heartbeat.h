// SPDX-License-Identifier: Apache-2.0
// ServiceHeartbeat: what the scheduler thread tells the service manager on
// each turn of its loop (scheduler::PollLoopOptions::heartbeat): WATCHDOG=1
// at most every half watchdog interval, and STATUS= with the job counts by
// status (read from the engine, on its own thread), hook runs pending and a
// note while state writes fail, when that text changes, at most once a
// second. Because the pings come from the scheduler's own loop, a stuck
// scheduler stops them and systemd restarts the service.
//
// Thread-safety: beat() on the scheduler thread only; the callbacks it is
// given must be thread-safe on the callee's side.
#pragma once

#include <functional>
#include <string>

#include "app/service_notifier.h"
#include "scheduler/poll_engine.h"
#include "util/clock.h"

namespace jobwatch::app {

struct HeartbeatSources {
  std::function<size_t()> hooks_pending;  // hook runs waiting in the ledger
  std::function<bool()> state_failing;    // the last state commit failed
};

class ServiceHeartbeat {
 public:
  ServiceHeartbeat(ServiceNotifier& notifier, HeartbeatSources sources)
      : notifier_(notifier), sources_(std::move(sources)) {}

  // Sends what is due; returns when it next wants to be called.
  SteadyTime beat(SteadyTime now, const scheduler::PollEngine& engine);

 private:
  ServiceNotifier& notifier_;
  HeartbeatSources sources_;
  SteadyTime next_watchdog_{};
  SteadyTime next_status_{};
  std::string last_status_;
};

}  // namespace jobwatch::app
