// SPDX-License-Identifier: Apache-2.0
// Daemon: the objects one running configuration needs, built in dependency
// order from a validated Config and torn down in reverse - state lock and
// store, metrics, hook runner, state writer, results directory, the
// scheduler thread pool (one or more PollLanes per account, each an engine,
// roster, transport and loop: scheduler_pool.h) - and the few operations
// the control loop (Service) and --once perform on them. It hands none of
// its parts out: whoever needs a change made asks for the change.
//
// Jobs are routed to lanes by account (job_routing.h): a job stays bound to
// the account it was first watched under; jobs stored under an account the
// configuration no longer has are kept aside (not polled) until it returns.
//
// Each lane's engine and roster belong to its thread once start() has run;
// calls marked "on the scheduler" post the work there. Only addDropped()
// and the watch file's routing wait for it (bounded: the files may only go
// once their jobs are committed); the others return at once and the work
// logs on the scheduler threads. False means the work could not be queued or (for
// addDropped) did not finish in time: the scheduler has stopped or failed,
// which failure() reports and the control loop stops the service for, or
// it is slow, and the queued work still runs when it gets to it.
//
// Config: the Service owns the running Config; the Daemon keeps none and is
// given what it needs with each call.
//
// Thread-safety: every method on the control (main) thread, unless noted.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/lane_settings.h"
#include "app/status_page.h"
#include "config/config.h"
#include "metrics/daemon_metrics.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"
#include "watchlist/watch_file.h"

namespace prometheus {
class Collectable;
}

namespace jobwatch::app {

class OperatorView;
class PollLane;
class ServiceNotifier;

class Daemon {
 public:
  // Fails (with a message naming the file or variable) when the API key is
  // missing, another process holds the state database, or it cannot be
  // opened; the error's kind says whether restarting may help.
  static Result<std::unique_ptr<Daemon>> build(const config::Config& config, Log& log,
                                               const Clock& clock);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Start-up, before start(): jobs and tombstones remembered in the state
  // store; hook runs left running by a process that died become pending.
  [[nodiscard]] Status restore();
  // Reads and applies the watch file at once, before start(). `due_now`
  // polls new jobs at once (--once).
  void loadWatchFile(const config::Config& config, bool due_now);

  // Starts the writer, the hook runner and the scheduler thread; the
  // scheduler tells `notifier` its heartbeat (WATCHDOG=1, STATUS=).
  void start(const config::Config& config, ServiceNotifier& notifier);
  // Ordered and idempotent: no new polls (answers in flight are still
  // recorded), commit state, drain hooks.
  void stop();

  // Re-reads the watch file here and applies it on the scheduler.
  [[nodiscard]] bool reloadWatchFile(const config::Config& config);
  // Watches dropped jobs (on the scheduler) and waits until they are
  // committed. The number of new jobs; nullopt when not recorded in time.
  [[nodiscard]] std::optional<size_t> addDropped(std::vector<watchlist::WatchEntry> entries);
  // Forgets jobs that finished before `cutoff`, i.e. `older_than` ago (on
  // the scheduler).
  [[nodiscard]] bool forgetFinished(WallTime cutoff, Millis older_than);
  // A validated new configuration, applied as one step on each scheduler
  // thread (engine settings, status words, transport and key, hooks) and to
  // the hook runner. Accounts added get their threads (and the jobs stored
  // under them); accounts removed stop, their jobs kept aside and the
  // reason logged; a changed `threads` applies at the next start.
  // Restart-only settings must already be reset by the caller.
  [[nodiscard]] bool reload(const config::Config& next, const AccountKeys& keys);

  // Logs the STATUS= summary (job counts by status, hooks pending), on the
  // scheduler (SIGUSR1).
  [[nodiscard]] bool logStatusSummary();

  // --once: polls every non-terminal job once, commits, runs the hooks due,
  // calls `each` with every job (for the table). True when every poll
  // reached the API and was answered.
  bool runOnce(const config::Config& config,
               const std::function<void(const struct OnceRow&)>& each);

  // A worker thread that ended because of an unexpected error (its name),
  // if any. Any thread.
  std::optional<std::string> failure() const;

  // The operator's commands (control socket, status page): answers and
  // changes, callable from any thread but the scheduler's. Valid until
  // the Daemon is destroyed; its scheduler-side answers need start().
  OperatorView& operatorView();

  // Metrics fed from the control thread, and what the endpoint serves.
  void countRejected(std::string_view source, size_t count);
  // Brings counters kept by the worker threads into the metrics.
  void refreshMetrics();
  void configReloaded(bool successful);
  std::shared_ptr<prometheus::Collectable> metricsCollectable();

  // The status page's data for `query`, from operatorView()'s reports.
  // Any thread (the metrics server's): pages read the scheduler one at a
  // time (status_page_sources.h); one that gets no turn within `within`,
  // or finds the scheduler not answering or not running, says so in its
  // notes and has no job list.
  StatusPageModel statusPage(const PageQuery& query, Millis within);

  // Rows committed so far, and whether none wait (for trimming the heap
  // after write bursts). Any thread.
  size_t committedRows() const;
  bool writerIdle() const;
  // Jobs watched; only while the scheduler thread does not run.
  size_t jobCount() const;

 private:
  struct Parts;
  Daemon(Log& log, const Clock& clock);
  std::optional<watchlist::WatchParse> readWatchFile(const config::Config& config);
  // Work for one lane's thread.
  struct LaneWork {
    PollLane* lane;
    std::function<void()> fn;
  };
  // Routes a watch file's entries (job_routing.h): each lane's part, to be
  // applied on its thread.
  std::vector<LaneWork> planWatchFile(const config::Config& config, watchlist::WatchParse parsed,
                                      bool due_now);
  // Posts each to its lane (runs it here before start()).
  [[nodiscard]] bool runOnLanes(std::vector<LaneWork> work);
  // The account each entry's job is already bound to ("" if none).
  std::optional<std::vector<std::string>> boundAccounts(
      const std::vector<watchlist::WatchEntry>& entries);
  void addAccountLanes(const config::Config& config, const config::AccountConfig& account,
                       const std::string& key);
  void startLane(PollLane& lane, const config::Config& config);
  void removeAccountsGone(const config::Config& next);
  void addAccountsNew(const config::Config& next, const AccountKeys& keys);
  void restoreInto(std::vector<state::StoredJob> jobs, const std::vector<std::string>& tombstones);

  Log& log_;
  const Clock& clock_;
  std::unique_ptr<Parts> parts_;
};

// One row of --once's table.
struct OnceRow {
  std::string id;
  std::string status;
  std::string type;
  std::string pdf_name;
  std::string error;  // the API's error, or why the poll failed
};

}  // namespace jobwatch::app
