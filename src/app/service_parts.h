// ServiceParts: the objects one running configuration needs, built in
// dependency order from a validated Config and torn down in reverse:
// state lock and store -> metrics -> hook runner -> state writer ->
// transport -> event listeners (log, recorder, metrics) -> poll engine.
//
// Ownership: owns everything it builds; the Log and Clock are borrowed.
// Thread-safety: built on the main thread; afterwards the engine belongs to
// the scheduler thread (PollLoop), the writer and runner to their threads.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "api/curl_multi_transport.h"
#include "app/metrics_feed.h"
#include "app/transition_log.h"
#include "app/transition_recorder.h"
#include "config/config.h"
#include "hooks/hook_runner.h"
#include "metrics/daemon_metrics.h"
#include "scheduler/poll_engine.h"
#include "state/state_lock.h"
#include "state/state_store.h"
#include "state/state_writer.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"
#include "watchlist/watch_file.h"

namespace jobwatch::app {

scheduler::ScheduleSettings scheduleSettingsFrom(const config::Config& config);
api::CurlTransportOptions transportOptionsFrom(const config::Config& config, const std::string& key);
status::StatusMapper statusMapperFrom(const config::Config& config);

class ServiceParts {
 public:
  // Fails (with a message naming the file or variable) when the API key is
  // missing, another process holds the state database, or it cannot be opened.
  static Result<std::unique_ptr<ServiceParts>> build(const config::Config& config, Log& log,
                                                     const Clock& clock);
  ~ServiceParts();

  // Start-up, before any thread runs: jobs remembered in the state
  // database, then the watch file's jobs (bad entries are logged with file
  // and line and skipped). `due_now` polls new jobs at once (--once).
  [[nodiscard]] Status restoreState();
  // Reads and applies the watch file at once: only before the loop runs.
  void loadWatchFile(bool due_now);

  // Reads the watch file (any thread), logging bad entries with file and
  // line. nullopt when no watch file is configured.
  std::optional<watchlist::WatchParse> readWatchFile() const;

  // The following touch the engine: on the scheduler thread (PollLoop::post)
  // once the loop runs.
  // Watches the file's jobs of this shard; unwatches jobs that left it.
  void applyWatchFile(const watchlist::WatchParse& parsed, bool due_now);
  // Watches dropped jobs of this shard; returns how many were new.
  size_t addDropped(const std::vector<watchlist::WatchEntry>& entries);
  // Re-reads which watch-file jobs were forgotten (after forgetting more).
  void refreshForgotten();
  bool inThisShard(const std::string& id) const;

  // Threads: writer and hook runner (the poll loop is the caller's).
  void startBackground();
  // Ordered stop of what startBackground() started: commit pending writes,
  // then drain hooks.
  void stopBackground();

  scheduler::PollEngine& engine() { return *engine_; }
  api::HttpTransport& transport() { return *transport_; }
  state::StateStore& store() { return *store_; }
  state::StateWriter& writer() { return *writer_; }
  hooks::HookRunner& hookRunner() { return *runner_; }
  metrics::DaemonMetrics& metrics() { return *metrics_; }
  // Hook runs pending in the ledger, as last reported by the runner (any thread).
  size_t hooksPending() const { return metrics_feed_->hooksPending(); }
  TransitionRecorder& recorder() { return *recorder_; }
  api::CurlMultiTransport& curlTransport() { return *transport_; }
  const config::Config& config() const { return config_; }
  // After a reload, on the scheduler thread: the config the parts act on.
  void setConfig(const config::Config& config) { config_ = config; }

 private:
  ServiceParts(const config::Config& config, Log& log, const Clock& clock)
      : config_(config), log_(log), clock_(clock) {}

  config::Config config_;
  Log& log_;
  const Clock& clock_;
  std::unique_ptr<state::StateLock> lock_;
  std::unique_ptr<state::StateStore> store_;
  std::unique_ptr<metrics::DaemonMetrics> metrics_;
  std::unique_ptr<MetricsFeed> metrics_feed_;  // feeds metrics_ from the runner and the engine
  std::unique_ptr<hooks::HookRunner> runner_;
  std::unique_ptr<state::StateWriter> writer_;
  std::unique_ptr<api::CurlMultiTransport> transport_;
  std::unique_ptr<TransitionLog> log_events_;
  std::unique_ptr<TransitionRecorder> recorder_;
  std::unique_ptr<scheduler::PollEventsFanout> fanout_;
  std::unique_ptr<scheduler::PollEngine> engine_;
  bool background_stopped_ = false;
  // Forgotten watch-file jobs: still listed, never watched again.
  std::unordered_set<std::string> forgotten_;
};

}  // namespace jobwatch::app
