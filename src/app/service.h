// SPDX-License-Identifier: Apache-2.0
// Service: the running daemon's lifecycle and control loop. Owns the
// running Config (the one owner; the Daemon is given what it needs with
// each call), the ordered start-up (state, watch list, threads, metrics
// endpoint) and shutdown (stop polling, commit state, drain hooks, stop the
// endpoint), and runs the control loop on the main thread: one poll() over
// the signalfd (stop, reload, status report), the drop directory, the watch
// file's directory, and timers for housekeeping.
//
// One policy for thread failure: every worker thread (scheduler, state
// writer, hook runner) says when it ended because of an unexpected error
// (Daemon::failure()); the control loop then stops the service with exit
// code 3, and systemd restarts it - the hook ledger makes that safe.
//
// The service manager hears about it through the ServiceNotifier: READY=1
// at the end of start() (metrics endpoint bound, state and watch list
// loaded, scheduler running), RELOADING=1 then READY=1 around a SIGHUP
// reload (also a failed one: the old config keeps running), STOPPING=1 when
// shutdown begins. The scheduler thread sends WATCHDOG=1 and STATUS=.
//
// Thread-safety: run() on the main thread, after blockServiceSignals().
#pragma once

#include <filesystem>
#include <memory>

#include "app/control_server.h"
#include "app/daemon.h"
#include "app/service_notifier.h"
#include "config/config.h"
#include "metrics/metrics_server.h"
#include "util/clock.h"
#include "util/log.h"
#include "watchlist/drop_dir.h"

namespace jobwatch::app {

class Service {
 public:
  Service(std::filesystem::path config_path, config::Config config, Log& log,
          std::unique_ptr<ServiceNotifier> notifier);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Runs until SIGTERM/SIGINT or a worker thread's failure; returns the
  // exit code.
  int run();

 private:
  int start();
  // Returns the exit code: 0 when asked to stop, 3 when a thread failed.
  int loop();
  // Returns whether a worker thread had failed.
  bool shutdown();

  // reloadConfig() wrapped in RELOADING=1 ... READY=1.
  void reload();
  void reloadConfig();
  void takeDropFiles();
  // False when the configuration is at fault: start fails with exit 1.
  bool startControlServer();
  void reloadWatchFile();
  void forgetOldJobs();
  // Hands freed heap pages back to the kernel after a burst of state writes
  // (README: Performance, Memory).
  void trimAfterWriteBursts();

  std::filesystem::path config_path_;
  config::Config config_;
  Log& log_;
  SystemClock clock_;
  std::unique_ptr<ServiceNotifier> notifier_;
  std::unique_ptr<Daemon> daemon_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  std::unique_ptr<ControlServer> control_server_;
  std::unique_ptr<watchlist::DropDirWatcher> drop_dir_;
  std::unique_ptr<watchlist::WatchFileMonitor> watch_file_;
  int signal_fd_ = -1;
  SteadyTime next_forget_{};
  size_t trimmed_at_rows_ = 0;
  SteadyTime next_trim_{};
};

}  // namespace jobwatch::app
