// SPDX-License-Identifier: Apache-2.0
// FleetKeeper: this instance's membership of a fleet (SPEC "High
// availability"). On its own thread, every lease/3, it runs the store's
// fleet tick (state_store.h: FleetTick): heartbeat, reaping of dead
// members, claims up to a fair share, release for balance. What the tick
// says it passes on:
//
//  - jobs claimed go to their account's lane (Roster::adopt), with their
//    pending results; jobs lost are taken out of every lane (Roster::release);
//  - every account's budget takes 1/(live instances) of its rate, and
//    polls only while the lease is known to hold: until the start of the
//    last good tick plus the lease, less a margin (SchedulerPool::
//    setFleetTerms). So an instance that cannot reach the database, or was
//    paused past its lease, starts no request until a tick succeeds again
//    (by then its writes for jobs taken over are fenced anyway);
//  - a newcomer polls nothing until one tick interval after it joined, so
//    the others have seen it and lowered their share first (the fleet's
//    sum never exceeds the rate);
//  - jobwatch_state_up, jobwatch_fleet_instances, jobwatch_jobs_held, and
//    the members for `jobwatchd status`.
//
// A failed tick is logged (again every 30 s while it lasts) and retried
// with backoff from 250 ms up to the tick interval.
//
// Thread-safety: start/stop by the owner; every other method from any
// thread. Ownership: the store, pool, metrics and log outlive the keeper.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/scheduler_pool.h"
#include "metrics/daemon_metrics.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/log.h"

namespace jobwatch::app {

class FleetKeeper {
 public:
  // Closes the lanes' lease at once: nothing polls before the first good
  // tick.
  FleetKeeper(state::StateStore& store, SchedulerPool& pool, metrics::DaemonMetrics& metrics,
              Log& log, const Clock& clock, Millis lease);
  ~FleetKeeper();
  FleetKeeper(const FleetKeeper&) = delete;
  FleetKeeper& operator=(const FleetKeeper&) = delete;

  // Starts the thread.
  void start();
  // Ends the thread; then leaves the fleet (the store frees this
  // instance's jobs for the others at once). Call after the lanes stopped
  // and the writer flushed.
  void stop();
  // Ticks soon (new jobs were registered).
  void wake();
  // Called after every good tick on the keeper's thread (set before
  // start): the hook runner looks for runs a dead member left pending.
  void setAfterTick(std::function<void()> fn) { after_tick_ = std::move(fn); }

  // The live members as last seen (empty before the first good tick).
  std::vector<state::FleetMember> members() const;
  // Whether the last tick reached the store, and the last error if not.
  bool storeUp() const { return store_up_.load(); }
  std::string lastError() const;
  size_t jobsHeld() const { return held_.load(); }

  // One tick on the caller's thread (the thread calls it; tests too).
  // Returns whether the store answered.
  bool tick();

 private:
  void run(std::stop_token stop);
  void passOn(state::FleetTick& tick, SteadyTime started);
  void failed(const Error& error);

  state::StateStore& store_;
  SchedulerPool& pool_;
  metrics::DaemonMetrics& metrics_;
  Log& log_;
  const Clock& clock_;
  const Millis lease_;
  const Millis interval_;  // lease / 3
  std::function<void()> after_tick_;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  bool woken_ = false;                       // guarded by mu_
  std::vector<state::FleetMember> members_;  // guarded by mu_
  std::string last_error_;                   // guarded by mu_
  std::atomic<bool> store_up_{true};
  std::atomic<size_t> held_{0};
  // Touched by the ticking thread only.
  std::optional<SteadyTime> joined_;  // the first good tick's start
  SteadyTime last_error_log_{};
  Millis backoff_{0};
  std::jthread thread_;
};

}  // namespace jobwatch::app
