// SPDX-License-Identifier: Apache-2.0
#include "app/daemon.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include "api/curl_multi_transport.h"
#include "api/result_file.h"
#include "app/metrics_feed.h"
#include "app/operator_feed.h"
#include "app/operator_view.h"
#include "app/service_heartbeat.h"
#include "app/service_notifier.h"
#include "app/status_page_sources.h"
#include "app/transition_log.h"
#include "app/transition_recorder.h"
#include "app/version.h"
#include "hooks/hook_runner.h"
#include "scheduler/poll_engine.h"
#include "scheduler/poll_loop.h"
#include "scheduler/roster.h"
#include "state/state_lock.h"
#include "state/state_reader.h"
#include "state/state_store.h"
#include "state/state_writer.h"

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

// How long the control thread waits for the scheduler thread to run a
// posted command.
constexpr auto kSchedulerAnswerWithin = 30s;

std::string envOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

api::CurlTransportOptions transportOptionsFrom(const config::Config& config,
                                               const std::string& key) {
  api::CurlTransportOptions options;
  options.connect_timeout = config.api.connect_timeout;
  options.request_timeout = config.api.request_timeout;
  options.allow_http = config.api.allow_insecure_http;
  options.max_connections = config.api.max_concurrent_requests;
  options.headers.push_back(config.api.key_header + ": " + key);
  return options;
}

status::StatusMapper statusMapperFrom(const config::Config& config) {
  return status::StatusMapper(config.poll.status_aliases, config.poll.extra_terminal_statuses);
}

scheduler::ScheduleSettings scheduleSettingsFrom(const config::Config& config) {
  scheduler::ScheduleSettings s;
  s.base_url = config.api.base_url;
  s.interval = config.poll.interval;
  s.jitter = config.poll.jitter;
  s.backoff_max = config.poll.backoff_max;
  s.give_up_after = config.poll.give_up_after;
  s.not_found_after = config.poll.not_found_after;
  s.max_in_flight = config.api.max_concurrent_requests;
  s.rate_per_second = config.api.rate_limit.per_second;
  s.strategy = config.poll.strategy == config::PollStrategyName::kAdaptive
                   ? scheduler::PollStrategy::kAdaptive
                   : scheduler::PollStrategy::kRoundRobin;
  s.max_interval = config.poll.max_interval;
  s.overdue_auto = config.poll.overdue_after.mode == config::OverdueAfter::Mode::kAuto;
  s.overdue_after = config.poll.overdue_after.mode == config::OverdueAfter::Mode::kFixed
                        ? config.poll.overdue_after.after
                        : Millis{0};
  return s;
}

std::vector<std::string> hookNames(const config::HooksConfig& hooks) {
  std::vector<std::string> names;
  for (const auto& hook : hooks.definitions) names.push_back(hook.name);
  return names;
}

std::unique_ptr<metrics::DaemonMetrics> makeMetrics(const config::Config& config,
                                                    const Clock& clock, Log& log) {
  metrics::MetricsOptions options;
  options.statuses = statusMapperFrom(config).knownStatuses();
  options.poll_results = pollResultLabels();
  options.hook_results = hookResultLabels();
  options.result_fetch_results = api::resultFetchLabels();
  options.per_job_series = config.metrics.per_job_series;
  options.per_job_limit = config.metrics.per_job_limit;
  options.version = kVersion;
  auto metrics = std::make_unique<metrics::DaemonMetrics>(std::make_shared<prometheus::Registry>(),
                                                          std::move(options), clock, log);
  metrics->hooksConfigured(hookNames(config.hooks));
  metrics->accountsConfigured({{"default", config.api.rate_limit.per_second}});
  return metrics;
}

bool anyHookWantsResults(const config::Config& config) {
  return std::any_of(config.hooks.definitions.begin(), config.hooks.definitions.end(),
                     [](const config::HookDefinition& hook) { return hook.with_result; });
}

void logWatchFileApplied(Log& log, const config::Config& config,
                         const scheduler::WatchFileApplied& applied) {
  if (applied.kept_missing) {
    log.warn("watch file has problems: jobs missing from it stay watched until it is fixed");
  }
  LogFields fields = {{"file", config.watch.file ? config.watch.file->string() : ""},
                      {"jobs", std::to_string(applied.listed)},
                      {"new", std::to_string(applied.added)},
                      {"unwatched", std::to_string(applied.unwatched)},
                      {"rejected", std::to_string(applied.rejected)}};
  if (config.shard.count > 1) {
    fields.push_back({"other_shards", std::to_string(applied.other_shards)});
  }
  log.info("watch file loaded", fields);
}

}  // namespace

// Declared in dependency order: destroyed in reverse.
struct Daemon::Parts {
  std::unique_ptr<state::StateLock> lock;
  std::unique_ptr<state::StateStore> store;
  std::unique_ptr<state::StateReader> reader;  // the operator's reads (history, ledger)
  std::unique_ptr<metrics::DaemonMetrics> metrics;
  std::unique_ptr<MetricsFeed> metrics_feed;  // the runner's and the engine's events
  std::unique_ptr<hooks::HookRunner> runner;
  std::unique_ptr<state::StateWriter> writer;
  std::unique_ptr<api::CurlMultiTransport> transport;
  std::unique_ptr<api::ResultDir> results;  // results.dir (SPEC "Results")
  std::unique_ptr<TransitionLog> transition_log;
  std::unique_ptr<TransitionRecorder> recorder;
  std::unique_ptr<scheduler::PollEventsFanout> fanout;
  std::unique_ptr<scheduler::PollEngine> engine;
  std::unique_ptr<scheduler::Roster> roster;
  std::unique_ptr<ServiceHeartbeat> heartbeat;
  std::unique_ptr<OperatorFeed> operator_feed;  // API health, the vocabulary (operator, page)
  std::unique_ptr<scheduler::PollLoop> loop;
  std::unique_ptr<OperatorView> operator_view;
  // `operator_view` once it exists and the loop runs, null again when
  // stop() begins: the status page (another thread) reads through it.
  std::atomic<OperatorView*> page_view{nullptr};
  std::unique_ptr<StatusPageSource> page_source;  // paces the status page's reads
  bool stopped = false;
};

Daemon::Daemon(Log& log, const Clock& clock) : log_(log), clock_(clock) {}

Daemon::~Daemon() { stop(); }

Result<std::unique_ptr<Daemon>> Daemon::build(const config::Config& config, Log& log,
                                              const Clock& clock) {
  auto key = config::readApiKey(config.api);
  if (!key.ok()) return key.error();
  auto lock = state::StateLock::acquire(config.state.path);
  if (!lock.ok()) return lock.error();
  state::OpenOptions open_options;
  open_options.on_wait = [&log](const Error& error, std::chrono::milliseconds retry_in) {
    log.warn("state database is locked by another process; waiting",
             {{"error", error.message}, {"retry_in_ms", std::to_string(retry_in.count())}});
  };
  auto store = state::StateStore::open(config.state.path, clock, open_options);
  if (!store.ok()) return store.error();  // its kind decides the exit code

  auto results = std::make_unique<api::ResultDir>(config.results.dir, config.results.max_size);
  if (anyHookWantsResults(config)) {
    if (auto ready = results->prepare(); !ready) return ready.error();
  }

  std::unique_ptr<Daemon> daemon(new Daemon(log, clock));
  daemon->parts_ = std::make_unique<Parts>();
  Parts& p = *daemon->parts_;
  p.lock = std::move(lock).value();
  p.store = std::move(store).value();
  p.metrics = makeMetrics(config, clock, log);
  p.metrics_feed = std::make_unique<MetricsFeed>(*p.metrics);

  hooks::HookRunnerOptions hook_options;
  hook_options.hooks = config.hooks;
  hook_options.path_env =
      envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  hook_options.lang_env = envOr("LANG", "C.UTF-8");
  p.runner = std::make_unique<hooks::HookRunner>(std::move(hook_options), *p.store, clock, log,
                                                 p.metrics_feed.get());
  hooks::HookRunner* runner = p.runner.get();
  p.writer =
      std::make_unique<state::StateWriter>(*p.store, log, clock, [runner] { runner->wake(); });
  p.transport = std::make_unique<api::CurlMultiTransport>(transportOptionsFrom(config, *key));
  p.results = std::move(results);
  p.transition_log = std::make_unique<TransitionLog>(log);
  p.recorder = std::make_unique<TransitionRecorder>(*p.writer, config.hooks.definitions);
  p.operator_feed = std::make_unique<OperatorFeed>(clock, statusMapperFrom(config).knownStatuses());
  p.page_source = std::make_unique<StatusPageSource>(clock);
  p.fanout = std::make_unique<scheduler::PollEventsFanout>(std::vector<scheduler::PollEvents*>{
      p.transition_log.get(), p.recorder.get(), p.metrics_feed.get(), p.operator_feed.get()});
  p.engine = std::make_unique<scheduler::PollEngine>(scheduleSettingsFrom(config),
                                                     statusMapperFrom(config), *p.transport, clock,
                                                     *p.fanout, log, std::random_device{}());
  state::StateWriter* writer = p.writer.get();
  p.engine->setAdmission([writer] { return writer->hasRoom(); });
  p.engine->setResults(p.results.get(), config.results.give_up_after);
  scheduler::PollEngine* engine = p.engine.get();
  p.recorder->setResultWanted(
      [engine](const state::ResultRecord& record) { engine->fetchResult(record); });
  p.roster = std::make_unique<scheduler::Roster>(
      *p.engine, *p.writer, scheduler::ShardSpec{config.shard.index, config.shard.count});
  // After the store migrated the file: the reader wants the current schema.
  auto reader = state::StateReader::open(config.state.path);
  if (reader.ok()) {
    p.reader = std::move(reader).value();
  } else {
    log.warn("operator commands cannot read history and hooks",
             {{"error", reader.error().message}});
  }
  return daemon;
}

Status Daemon::restore() {
  Parts& p = *parts_;
  auto jobs = p.store->loadJobs();
  if (!jobs.ok()) return jobs.error();
  auto tombstones = p.store->loadForgotten();
  if (!tombstones.ok()) return tombstones.error();
  const size_t terminal = p.roster->restore(jobs.value(), tombstones.value());
  auto recovered = p.store->recoverInterruptedRuns();
  if (!recovered.ok()) return recovered.error();
  auto results = p.store->loadPendingResults();
  if (!results.ok()) return results.error();
  for (auto& record : results.value()) p.engine->fetchResult(std::move(record));
  auto pending = p.store->countRuns(state::HookRunState::kPending);
  log_.info("state loaded",
            {{"path", p.store->path().string()},
             {"jobs", std::to_string(jobs.value().size())},
             {"terminal", std::to_string(terminal)},
             {"hooks_pending", pending.ok() ? std::to_string(pending.value()) : "?"},
             {"results_pending", std::to_string(results.value().size())}});
  if (recovered.value() > 0) {
    log_.warn("hook runs were in flight when jobwatchd last stopped; running them again",
              {{"runs", std::to_string(recovered.value())}});
  }
  return Ok{};
}

std::optional<watchlist::WatchParse> Daemon::readWatchFile(const config::Config& config) {
  if (!config.watch.file) return std::nullopt;
  watchlist::WatchParse parsed = watchlist::loadWatchFile(*config.watch.file);
  for (const auto& issue : parsed.issues) {
    log_.error("watch file entry rejected", {{"problem", issue.toString()}});
  }
  parts_->metrics->watchRejected("file", parsed.issues.size());
  return parsed;
}

void Daemon::loadWatchFile(const config::Config& config, bool due_now) {
  // Read on a thread of its own: the YAML tree and the parsed entries are
  // allocated in that thread's malloc arena, not between the jobs' own
  // allocations in this one, where they would leave holes once freed
  // (README: Performance, Memory).
  std::optional<watchlist::WatchParse> parsed;
  std::thread([&] { parsed = readWatchFile(config); }).join();
  if (!parsed) return;
  const auto applied = parts_->roster->applyWatchFile(*parsed, due_now);
  logWatchFileApplied(log_, config, applied);
}

bool Daemon::reloadWatchFile(const config::Config& config) {
  auto parsed = readWatchFile(config);
  if (!parsed) return true;
  Log& log = log_;
  scheduler::Roster& roster = *parts_->roster;
  return onScheduler([&log, &roster, config, parsed = std::move(*parsed)] {
    logWatchFileApplied(log, config, roster.applyWatchFile(parsed, false));
  });
}

void Daemon::start(const config::Config& config, ServiceNotifier& notifier) {
  Parts& p = *parts_;
  p.writer->start();
  p.runner->start();
  scheduler::PollLoopOptions options;
  options.drain_timeout = std::min<Millis>(config.api.request_timeout, 10s);
  MetricsFeed* feed = p.metrics_feed.get();
  state::StateWriter* writer = p.writer.get();
  p.heartbeat = std::make_unique<ServiceHeartbeat>(
      notifier, HeartbeatSources{[feed] { return feed->hooksPending(); },
                                 [writer] { return writer->failing(); }});
  ServiceHeartbeat* heartbeat = p.heartbeat.get();
  options.heartbeat = [heartbeat](SteadyTime now, const scheduler::PollEngine& engine) {
    return heartbeat->beat(now, engine);
  };
  // Test seam (see PollLoopOptions::wedge_file): inert unless set.
  if (const char* wedge = std::getenv("JOBWATCHD_TEST_WEDGE_FILE"); wedge && *wedge) {
    options.wedge_file = wedge;
  }
  p.loop = std::make_unique<scheduler::PollLoop>(*p.engine, *p.transport, clock_, log_,
                                                 std::move(options));
  p.loop->start();
  p.operator_view = std::make_unique<OperatorView>(
      OperatorParts{*p.loop, *p.engine, *p.roster, *p.operator_feed, *p.store, p.reader.get(),
                    *p.writer, *p.runner, *p.metrics_feed, clock_});
  p.page_view = p.operator_view.get();
}

void Daemon::stop() {
  if (!parts_ || parts_->stopped) return;
  Parts& p = *parts_;
  p.stopped = true;
  p.page_view = nullptr;
  if (p.loop) p.loop->stop();
  if (!p.writer->stop(10s)) {
    log_.error(
        "state writes could not be committed before stopping; the next start re-polls "
        "the affected jobs");
  }
  p.runner->stop();
}

bool Daemon::onScheduler(std::function<void()> fn) { return parts_->loop->post(std::move(fn)); }

bool Daemon::onSchedulerAndWait(std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  if (!onScheduler([fn = std::move(fn), done] {
        fn();
        done->set_value();
      })) {
    return false;
  }
  const SteadyTime deadline = clock_.now() + kSchedulerAnswerWithin;
  while (finished.wait_for(100ms) != std::future_status::ready) {
    if (parts_->loop->failed() || clock_.now() >= deadline) return false;
  }
  return true;
}

std::optional<size_t> Daemon::addDropped(std::vector<watchlist::WatchEntry> entries) {
  auto added = std::make_shared<size_t>(0);
  scheduler::Roster& roster = *parts_->roster;
  const bool applied = onSchedulerAndWait(
      [&roster, added, entries = std::move(entries)] { *added = roster.addDropped(entries); });
  // Recorded durably before the caller lets the files go.
  if (!applied || !parts_->writer->flush(30s)) return std::nullopt;
  return *added;
}

bool Daemon::forgetFinished(WallTime cutoff, Millis older_than) {
  scheduler::Roster& roster = *parts_->roster;
  scheduler::PollEngine& engine = *parts_->engine;
  const api::ResultDir& results = *parts_->results;
  Log& log = log_;
  return onScheduler([&roster, &engine, &results, &log, cutoff, older_than] {
    const std::vector<std::string> forgotten = roster.forgetFinished(cutoff);
    for (const std::string& id : forgotten) {
      engine.dropResult(id);
      if (auto removed = results.remove(id); !removed) {
        log.warn("cannot delete a forgotten job's result", {{"error", removed.error().message}});
      }
    }
    if (!forgotten.empty()) {
      log.info("forgot finished jobs", {{"jobs", std::to_string(forgotten.size())},
                                        {"older_than", formatDuration(older_than)}});
    }
  });
}

bool Daemon::reload(const config::Config& next, const std::string& api_key) {
  Parts& p = *parts_;
  p.metrics->hooksConfigured(hookNames(next.hooks));
  p.metrics->accountsConfigured({{"default", next.api.rate_limit.per_second}});
  scheduler::PollEngine& engine = *p.engine;
  api::CurlMultiTransport& transport = *p.transport;
  TransitionRecorder& recorder = *p.recorder;
  hooks::HookRunner& runner = *p.runner;
  api::ResultDir& results = *p.results;
  OperatorFeed& feed = *p.operator_feed;
  // One step: the recorder and the runner switch hooks together, so no
  // ledger row is written for a hook the runner does not know.
  // results.dir applies at start only; its size cap and give-up time here.
  return onScheduler([&engine, &transport, &recorder, &runner, &results, &feed,
                      settings = scheduleSettingsFrom(next), mapper = statusMapperFrom(next),
                      transport_options = transportOptionsFrom(next, api_key), hooks = next.hooks,
                      results_config = next.results]() mutable {
    results.setMaxSize(results_config.max_size);
    engine.setResults(&results, results_config.give_up_after);
    engine.updateSettings(std::move(settings));
    feed.setKnownStatuses(mapper.knownStatuses());
    engine.setStatusMapper(std::move(mapper));
    transport.reconfigure(std::move(transport_options));
    runner.setHooks(hooks);
    recorder.setHooks(std::move(hooks.definitions));
  });
}

bool Daemon::logStatusSummary() {
  const scheduler::PollEngine& engine = *parts_->engine;
  const MetricsFeed& feed = *parts_->metrics_feed;
  Log& log = log_;
  return onScheduler([&engine, &feed, &log] {
    log.info("status", {{"summary", formatServiceStatus(engine.statusCounts(), engine.jobCount(),
                                                        feed.hooksPending())}});
  });
}

bool Daemon::runOnce(const config::Config& config,
                     const std::function<void(const OnceRow&)>& each) {
  Parts& p = *parts_;
  p.writer->start();
  p.engine->startSinglePass();
  for (;;) {
    const SteadyTime wake = p.engine->step();
    if (p.engine->passFinished()) break;
    p.engine->wait(wake);
  }
  // Hooks due now run before the table is printed; retries that are not
  // due yet stay in the ledger for the service.
  if (!p.writer->flush(30s)) log_.error("state writes could not be committed");
  Millis longest = 0ms;
  for (const auto& hook : config.hooks.definitions) longest = std::max(longest, hook.timeout);
  p.runner->runUntilIdle(longest * 2 + 10s);
  if (p.runner->failed()) log_.error("the hook runner failed; due hooks run at the next start");
  bool all_answered = true;
  p.engine->forEachJob([&](const scheduler::JobRecord& job) {
    OnceRow row{job.id, job.status, job.facts.type, job.facts.pdf_name, job.facts.error};
    if (job.polled && job.last_result != api::PollResultKind::kOk) {
      row.error = "poll failed: " + std::string(api::resultLabel(job.last_result));
      all_answered = false;
    }
    each(row);
  });
  return all_answered;
}

std::optional<std::string> Daemon::failure() const {
  if (parts_->loop && parts_->loop->failed()) return "scheduler";
  if (parts_->runner->failed()) return "hook runner";
  if (parts_->writer->failed()) return "state writer";
  return std::nullopt;
}

void Daemon::countRejected(std::string_view source, size_t count) {
  parts_->metrics->watchRejected(source, count);
}

void Daemon::refreshMetrics() {
  parts_->metrics->stateWriteFailures(parts_->writer->writeFailures());
}

void Daemon::configReloaded(bool successful) {
  parts_->metrics->configReloaded(successful);
  if (parts_->operator_view) parts_->operator_view->reloaded(successful);
}

OperatorView& Daemon::operatorView() { return *parts_->operator_view; }

std::shared_ptr<prometheus::Collectable> Daemon::metricsCollectable() {
  return parts_->metrics->collectable();
}

StatusPageModel Daemon::statusPage(const PageQuery& query, Millis within) {
  return parts_->page_source->read(parts_->page_view.load(), query, within);
}

size_t Daemon::committedRows() const { return parts_->writer->committedRows(); }
bool Daemon::writerIdle() const { return parts_->writer->idle(); }
size_t Daemon::jobCount() const { return parts_->engine->jobCount(); }

}  // namespace jobwatch::app
