// SPDX-License-Identifier: Apache-2.0
// Daemon's parts (private to daemon*.cpp: the class is split over files by
// concern, the parts and these helpers are shared by them).
//
// Thread-safety: as Daemon (daemon.h).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "api/result_file.h"
#include "app/daemon.h"
#include "app/fleet_keeper.h"
#include "app/metrics_feed.h"
#include "app/operator_view.h"
#include "app/scheduler_pool.h"
#include "app/service_heartbeat.h"
#include "app/status_page_sources.h"
#include "hooks/hook_runner.h"
#include "metrics/daemon_metrics.h"
#include "scheduler/roster.h"
#include "state/state_lock.h"
#include "state/state_reader.h"
#include "state/state_store.h"
#include "state/state_writer.h"

namespace jobwatch::app {

// How long the control thread waits for the scheduler thread to run a
// posted command.
inline constexpr auto kSchedulerAnswerWithin = std::chrono::seconds(30);

// Declared in dependency order: destroyed in reverse.
struct Daemon::Parts {
  std::unique_ptr<state::StateLock> lock;  // SQLite's; null with PostgreSQL
  std::unique_ptr<state::StateStore> store;
  std::unique_ptr<state::StateReader> reader;  // the operator's reads (history, ledger)
  std::unique_ptr<metrics::DaemonMetrics> metrics;
  std::unique_ptr<MetricsFeed> hook_metrics;  // the runner's events
  std::unique_ptr<hooks::HookRunner> runner;
  std::unique_ptr<state::StateWriter> writer;
  std::unique_ptr<api::ResultDir> results;  // results.dir (SPEC "Results")
  std::unique_ptr<SchedulerPool> pool;      // every account's engine threads
  // SPEC "High availability": this instance's membership (null: SQLite).
  std::unique_ptr<FleetKeeper> fleet;
  // Jobs stored under accounts the configuration does not have (not polled).
  std::vector<state::StoredJob> aside;
  // Forgotten watch-file jobs of removed accounts (account, ID): their
  // lanes' tombstones, handed back if the account returns.
  std::vector<std::pair<std::string, std::string>> aside_tombstones;
  std::unique_ptr<ServiceHeartbeat> heartbeat;
  std::unique_ptr<OperatorView> operator_view;
  // `operator_view` once it exists and the loops run, null again when
  // stop() begins: the status page (another thread) reads through it.
  std::atomic<OperatorView*> page_view{nullptr};
  std::unique_ptr<StatusPageSource> page_source;  // paces the status page's reads
  bool started = false;
  bool stopped = false;
};

}  // namespace jobwatch::app
