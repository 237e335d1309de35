// SPDX-License-Identifier: Apache-2.0
// ServiceHeartbeat: what the scheduler threads tell the service manager on
// each turn of their loops (scheduler::PollLoopOptions::heartbeat): WATCHDOG=1
// at most every half watchdog interval, and only once every engine thread
// (every PollLane) has beaten since the last one, so one stuck thread among
// several stops the pings and systemd restarts the service; and STATUS= with
// the job counts by status summed over the threads (each thread's read from
// its own engine, at most once a second), hook runs pending and a note while
// state writes fail, when that text changes, at most once a second.
//
// Thread-safety: beat() on the lanes' threads (one short lock);
// addLane/removeLane from any thread; the callbacks it is given must be
// thread-safe on the callee's side.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "app/service_notifier.h"
#include "scheduler/poll_engine.h"
#include "util/clock.h"

namespace jobwatch::app {

struct HeartbeatSources {
  std::function<size_t()> hooks_pending;  // hook runs waiting in the ledger
  std::function<bool()> state_failing;    // the last state commit failed
  // Appended to STATUS= when set and not empty (the fleet's state).
  std::function<std::string()> fleet_note = {};
};

class ServiceHeartbeat {
 public:
  ServiceHeartbeat(ServiceNotifier& notifier, HeartbeatSources sources)
      : notifier_(notifier), sources_(std::move(sources)) {}

  // A lane whose beats the watchdog waits for (from its first beat on) and
  // whose counts go into STATUS=; removed when the lane stops for good.
  void addLane(const void* lane);
  void removeLane(const void* lane);

  // Sends what is due; returns when `lane` next wants to be called.
  SteadyTime beat(const void* lane, SteadyTime now, const scheduler::PollEngine& engine);

 private:
  struct LaneBeat {
    SteadyTime last{};  // SteadyTime{}: never beaten
    SteadyTime next_counts{};
    std::map<std::string, size_t> counts;
    size_t jobs = 0;
  };
  bool everyLaneBeatSince(SteadyTime t) const;
  std::string statusText() const;

  ServiceNotifier& notifier_;
  HeartbeatSources sources_;
  std::mutex mu_;
  std::map<const void*, LaneBeat> lanes_;  // guarded by mu_
  SteadyTime last_watchdog_{};             // guarded by mu_
  SteadyTime next_watchdog_{};             // guarded by mu_
  SteadyTime next_status_{};               // guarded by mu_
  std::string last_status_;                // guarded by mu_
};

}  // namespace jobwatch::app
