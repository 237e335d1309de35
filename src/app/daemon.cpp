// SPDX-License-Identifier: Apache-2.0
#include "app/daemon.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <thread>

#include "api/result_file.h"
#include "app/daemon_parts.h"
#include "app/fleet_keeper.h"
#include "app/job_routing.h"
#include "app/metrics_feed.h"
#include "app/operator_view.h"
#include "app/poll_lane.h"
#include "app/scheduler_pool.h"
#include "app/service_heartbeat.h"
#include "app/service_notifier.h"
#include "app/state_backend.h"
#include "app/status_page_sources.h"
#include "app/version.h"
#include "hooks/hook_runner.h"
#include "scheduler/poll_engine.h"
#include "scheduler/roster.h"
#include "state/state_lock.h"
#include "state/state_reader.h"
#include "state/state_store.h"
#include "state/state_writer.h"

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

std::string envOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
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
  return metrics;
}

std::vector<metrics::AccountBudget> accountBudgets(const config::Config& config) {
  std::vector<metrics::AccountBudget> budgets;
  for (const auto& account : config.accounts) {
    budgets.push_back({account.name, account.api.rate_limit.per_second});
  }
  return budgets;
}

// Stops lanes together (each drains its requests in flight, bounded), so
// stopping many takes as long as the slowest, not their sum.
void stopLanes(const std::vector<LanePtr>& lanes) {
  if (lanes.size() == 1) {
    lanes.front()->stop();
    return;
  }
  std::vector<std::thread> stopping;
  stopping.reserve(lanes.size());
  for (const LanePtr& lane : lanes) stopping.emplace_back([&lane] { lane->stop(); });
  for (auto& thread : stopping) thread.join();
}

bool anyHookWantsResults(const config::Config& config) {
  return std::any_of(config.hooks.definitions.begin(), config.hooks.definitions.end(),
                     [](const config::HookDefinition& hook) { return hook.with_result; });
}

}  // namespace

Daemon::Daemon(Log& log, const Clock& clock) : log_(log), clock_(clock) {}

Daemon::~Daemon() { stop(); }

Result<std::unique_ptr<Daemon>> Daemon::build(const config::Config& config, Log& log,
                                              const Clock& clock) {
  auto keys = readAccountKeys(config);
  if (!keys.ok()) return keys.error();
  auto lock = lockStateStore(config);  // SQLite's file lock; none for PostgreSQL
  if (!lock.ok()) return lock.error();
  auto store = openStateStore(config, clock, log);
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
  p.hook_metrics = std::make_unique<MetricsFeed>(*p.metrics);

  hooks::HookRunnerOptions hook_options;
  hook_options.hooks = config.hooks;
  hook_options.path_env =
      envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  hook_options.lang_env = envOr("LANG", "C.UTF-8");
  p.runner = std::make_unique<hooks::HookRunner>(std::move(hook_options), *p.store, clock, log,
                                                 p.hook_metrics.get());
  hooks::HookRunner* runner = p.runner.get();
  p.writer =
      std::make_unique<state::StateWriter>(*p.store, log, clock, [runner] { runner->wake(); });
  p.results = std::move(results);
  p.pool =
      std::make_unique<SchedulerPool>(LaneContext{*p.writer, *p.results, log, clock}, *p.metrics);
  if (p.store->fleet()) {
    p.fleet = std::make_unique<FleetKeeper>(*p.store, *p.pool, *p.metrics, log, clock,
                                            config.state.lease);
  }
  for (const auto& account : config.accounts) {
    daemon->addAccountLanes(config, account, keys.value().at(account.name));
  }
  p.metrics->accountsConfigured(accountBudgets(config));
  p.page_source = std::make_unique<StatusPageSource>(clock);
  // After the store migrated the file: the reader wants the current schema.
  auto reader = openStateReader(config);
  if (reader.ok()) {
    p.reader = std::move(reader).value();
  } else {
    log.warn("operator commands cannot read history and hooks",
             {{"error", reader.error().message}});
  }
  return daemon;
}

void Daemon::addAccountLanes(const config::Config& config, const config::AccountConfig& account,
                             const std::string& key) {
  const std::vector<LanePtr> lanes =
      parts_->pool->addAccount(laneSettingsFor(config, account, key));
  if (parts_->fleet) {
    for (const LanePtr& lane : lanes) lane->roster().joinFleet();
  }
}

void Daemon::restoreInto(std::vector<state::StoredJob> jobs,
                         const std::vector<std::string>& tombstones) {
  Parts& p = *parts_;
  const std::vector<LanePtr> lanes = p.pool->lanes();
  // One lane that takes every job (the usual case): no copies, which at
  // 100,000 jobs would leave holes in the heap (README: Memory).
  if (lanes.size() == 1 && std::all_of(jobs.begin(), jobs.end(), [&](const state::StoredJob& job) {
        return job.account == lanes.front()->account();
      })) {
    lanes.front()->roster().restore(jobs, tombstones);
    return;
  }
  std::map<const PollLane*, std::vector<state::StoredJob>> per_lane;
  std::map<std::string, size_t> aside_by_account;
  for (state::StoredJob& job : jobs) {
    if (LanePtr lane = p.pool->laneFor(job.account, job.id)) {
      per_lane[lane.get()].push_back(std::move(job));
    } else {
      ++aside_by_account[job.account];
      p.aside.push_back(std::move(job));
    }
  }
  for (const LanePtr& lane : lanes) {
    lane->roster().restore(per_lane[lane.get()],
                           laneShare(tombstones, p.pool->threadsOf(lane->account()), lane->index(),
                                     [](const std::string& id) { return std::string_view(id); }));
  }
  for (const auto& [account, n] : aside_by_account) {
    log_.warn("jobs of an account that is not configured are not polled",
              {{"account", account}, {"jobs", std::to_string(n)}});
  }
}

Status Daemon::restore() {
  Parts& p = *parts_;
  auto jobs = p.store->loadJobs();
  if (!jobs.ok()) return jobs.error();
  auto tombstones = p.store->loadForgotten();
  if (!tombstones.ok()) return tombstones.error();
  const size_t count = jobs.value().size();
  size_t terminal = 0;
  for (const auto& job : jobs.value()) terminal += job.terminal;
  restoreInto(std::move(jobs).value(), tombstones.value());
  auto recovered = p.store->recoverInterruptedRuns();
  if (!recovered.ok()) return recovered.error();
  auto results = p.store->loadPendingResults();
  if (!results.ok()) return results.error();
  for (auto& record : results.value()) {
    if (LanePtr lane = p.pool->laneFor(record.account, record.job_id)) {
      lane->engine().fetchResult(std::move(record));
    }
  }
  auto pending = p.store->countRuns(state::HookRunState::kPending);
  log_.info("state loaded",
            {{"path", p.store->path().string()},
             {"jobs", std::to_string(count)},
             {"terminal", std::to_string(terminal)},
             {"hooks_pending", pending.ok() ? std::to_string(pending.value()) : "?"},
             {"results_pending", std::to_string(results.value().size())}});
  if (recovered.value() > 0) {
    log_.warn("hook runs were in flight when jobwatchd last stopped; running them again",
              {{"runs", std::to_string(recovered.value())}});
  }
  return Ok{};
}

void Daemon::startLane(PollLane& lane, const config::Config& config) {
  Parts& p = *parts_;
  scheduler::PollLoopOptions options;
  options.drain_timeout = std::min<Millis>(config.api.request_timeout, 10s);
  ServiceHeartbeat* heartbeat = p.heartbeat.get();
  const void* id = &lane;
  heartbeat->addLane(id);
  options.heartbeat = [heartbeat, id](SteadyTime now, const scheduler::PollEngine& engine) {
    return heartbeat->beat(id, now, engine);
  };
  // Test seam (see PollLoopOptions::wedge_file): inert unless set.
  if (const char* wedge = std::getenv("JOBWATCHD_TEST_WEDGE_FILE"); wedge && *wedge) {
    options.wedge_file = wedge;
  }
  lane.start(std::move(options));
}

void Daemon::start(const config::Config& config, ServiceNotifier& notifier) {
  Parts& p = *parts_;
  p.writer->start();
  p.runner->start();
  MetricsFeed* feed = p.hook_metrics.get();
  state::StateWriter* writer = p.writer.get();
  HeartbeatSources sources{[feed] { return feed->hooksPending(); },
                           [writer] { return writer->failing(); }};
  if (FleetKeeper* fleet = p.fleet.get()) {
    sources.fleet_note = [fleet] {
      if (!fleet->storeUp()) return std::string("; state store unreachable: not polling");
      return "; fleet of " + std::to_string(fleet->members().size()) + ", holding " +
             std::to_string(fleet->jobsHeld()) + " jobs";
    };
  }
  p.heartbeat = std::make_unique<ServiceHeartbeat>(notifier, std::move(sources));
  for (const LanePtr& lane : p.pool->lanes()) startLane(*lane, config);
  p.started = true;
  if (p.fleet) {
    hooks::HookRunner* runner = p.runner.get();
    p.fleet->setAfterTick([runner] { runner->wake(); });
    p.fleet->start();
  }
  p.operator_view = std::make_unique<OperatorView>(
      OperatorParts{*p.pool, *p.store, p.reader.get(), *p.writer, *p.runner, *p.hook_metrics,
                    clock_, p.fleet.get()});
  p.page_view = p.operator_view.get();
}

void Daemon::stop() {
  if (!parts_ || parts_->stopped) return;
  Parts& p = *parts_;
  p.stopped = true;
  p.page_view = nullptr;
  stopLanes(p.pool->lanes());
  if (!p.writer->stop(10s)) {
    log_.error(
        "state writes could not be committed before stopping; the next start re-polls "
        "the affected jobs");
  }
  p.runner->stop();
  if (p.fleet) p.fleet->stop();  // after the last write: frees the jobs for the others
}

std::optional<size_t> Daemon::addDropped(std::vector<watchlist::WatchEntry> entries) {
  auto bound = boundAccounts(entries);
  if (!bound) return std::nullopt;
  RoutedEntries routed = routeEntries(std::move(entries), *bound, *parts_->pool, "drop file",
                                      /*may_repeat=*/true);
  for (const auto& issue : routed.issues) {
    log_.error("drop file entry rejected", {{"problem", issue.toString()}});
  }
  auto parts =
      std::make_shared<std::vector<std::vector<watchlist::WatchEntry>>>(std::move(routed.per_lane));
  std::vector<size_t> index(routed.lanes.size());
  std::map<const PollLane*, size_t> position;
  for (size_t l = 0; l < routed.lanes.size(); ++l) position[routed.lanes[l].get()] = l;
  const std::function<size_t(PollLane&)> add = [parts, position](PollLane& lane) {
    auto it = position.find(&lane);
    return it == position.end() ? size_t{0} : lane.roster().addDropped((*parts)[it->second]);
  };
  size_t added = 0;
  for (const auto& answer : parts_->pool->askEach(add, kSchedulerAnswerWithin)) {
    if (!answer) return std::nullopt;
    added += *answer;
  }
  // Recorded durably before the caller lets the files go.
  if (!parts_->writer->flush(30s)) return std::nullopt;
  if (parts_->fleet) parts_->fleet->wake();  // registered: claim them soon
  return added;
}

bool Daemon::forgetFinished(WallTime cutoff, Millis older_than) {
  Log& log = log_;
  return parts_->pool->postEach([&log, cutoff, older_than](PollLane& lane) {
    // Their results go with them (Roster: PollEngine::forgetResult).
    const std::vector<std::string> forgotten = lane.roster().forgetFinished(cutoff);
    if (!forgotten.empty()) {
      log.info("forgot finished jobs", {{"jobs", std::to_string(forgotten.size())},
                                        {"older_than", formatDuration(older_than)}});
    }
  });
}

bool Daemon::reload(const config::Config& next, const AccountKeys& keys) {
  Parts& p = *parts_;
  p.metrics->hooksConfigured(hookNames(next.hooks));
  // The runner learns new hooks before any lane records a run of one; a
  // run of a hook just removed that a lane records meanwhile is dropped by
  // the runner with a warning. results.dir applies at start only; its size
  // cap and give-up time here.
  p.runner->setHooks(next.hooks);
  p.results->setMaxSize(next.results.max_size);
  removeAccountsGone(next);
  // Accounts kept: each lane reconfigures itself on its thread.
  bool queued = true;
  const api::ResultDir& results = *p.results;
  for (const LanePtr& lane : p.pool->lanes()) {
    const config::AccountConfig* account = next.account(lane->account());
    if (account == nullptr) continue;
    if (lane->index() == 0 && account->threads != p.pool->threadsOf(lane->account())) {
      log_.warn("an account's threads change at the next start",
                {{"account", account->name}, {"threads", std::to_string(account->threads)}});
    }
    PollLane* raw = lane.get();
    const int running_threads = p.pool->threadsOf(lane->account());
    queued = raw->post([raw, &results,
                        settings = laneSettingsFor(next, *account, keys.at(account->name),
                                                   running_threads)] {
      raw->reconfigure(settings, results);
    }) && queued;
  }
  addAccountsNew(next, keys);
  p.metrics->accountsConfigured(accountBudgets(next));
  return queued;
}

void Daemon::removeAccountsGone(const config::Config& next) {
  Parts& p = *parts_;
  for (const std::string& name : p.pool->accounts()) {
    if (next.account(name) != nullptr) continue;
    size_t jobs = 0;
    const std::vector<LanePtr> lanes = p.pool->removeAccount(name);
    stopLanes(lanes);
    for (const LanePtr& lane : lanes) {
      p.heartbeat->removeLane(lane.get());
      for (const std::string& id : lane->roster().tombstoneIds()) {
        p.aside_tombstones.push_back({name, id});
      }
      std::vector<std::string> ids;
      lane->engine().forEachJob([&](const scheduler::JobRecord& job) {
        p.aside.push_back(scheduler::toStoredJob(job, {}, name));
        ids.push_back(job.id);
      });
      for (const auto& id : ids) lane->engine().removeJob(id);  // out of the metrics too
      jobs += ids.size();
    }
    log_.warn("account removed from the configuration: its jobs are no longer polled",
              {{"account", name}, {"jobs", std::to_string(jobs)}});
  }
}

void Daemon::addAccountsNew(const config::Config& next, const AccountKeys& keys) {
  Parts& p = *parts_;
  for (const config::AccountConfig& account : next.accounts) {
    if (p.pool->hasAccount(account.name)) continue;
    std::vector<LanePtr> lanes =
        p.pool->addAccount(laneSettingsFor(next, account, keys.at(account.name)));
    std::vector<state::StoredJob> returning;
    std::erase_if(p.aside, [&](state::StoredJob& job) {
      if (job.account != account.name) return false;
      returning.push_back(std::move(job));
      return true;
    });
    std::vector<std::string> tombstones;
    std::erase_if(p.aside_tombstones, [&](std::pair<std::string, std::string>& t) {
      if (t.first != account.name) return false;
      tombstones.push_back(std::move(t.second));
      return true;
    });
    const int threads = static_cast<int>(lanes.size());
    for (const LanePtr& lane : lanes) {
      lane->roster().restore(
          laneShare(returning, threads, lane->index(),
                    [](const state::StoredJob& job) { return std::string_view(job.id); }),
          laneShare(tombstones, threads, lane->index(),
                    [](const std::string& id) { return std::string_view(id); }));
      startLane(*lane, next);
    }
    log_.info("account added", {{"account", account.name},
                                {"threads", std::to_string(account.threads)},
                                {"jobs", std::to_string(returning.size())}});
  }
}

bool Daemon::logStatusSummary() {
  const std::function<std::pair<std::map<std::string, size_t>, size_t>(PollLane&)> counts =
      [](PollLane& lane) {
        return std::make_pair(lane.engine().statusCounts(), lane.engine().jobCount());
      };
  std::map<std::string, size_t> by_status;
  size_t jobs = 0;
  bool all = true;
  for (const auto& answer : parts_->pool->askEach(counts, kSchedulerAnswerWithin)) {
    if (!answer) {
      all = false;
      continue;
    }
    for (const auto& [status, n] : answer->first) by_status[status] += n;
    jobs += answer->second;
  }
  log_.info(
      "status",
      {{"summary", formatServiceStatus(by_status, jobs, parts_->hook_metrics->hooksPending())}});
  return all;
}

bool Daemon::runOnce(const config::Config& config,
                     const std::function<void(const OnceRow&)>& each) {
  Parts& p = *parts_;
  p.writer->start();
  const std::vector<LanePtr> lanes = p.pool->lanes();
  for (const LanePtr& lane : lanes) lane->engine().startSinglePass();
  // Every lane's engine stepped in turn on this thread, each waiting a
  // little so that none holds the others up.
  for (;;) {
    bool finished = true;
    for (const LanePtr& lane : lanes) {
      scheduler::PollEngine& engine = lane->engine();
      const SteadyTime wake = engine.step();
      if (engine.passFinished()) continue;
      finished = false;
      engine.wait(lanes.size() == 1 ? wake : std::min(wake, clock_.now() + 5ms));
    }
    if (finished) break;
  }
  // Hooks due now run before the table is printed; retries that are not
  // due yet stay in the ledger for the service.
  if (!p.writer->flush(30s)) log_.error("state writes could not be committed");
  Millis longest = 0ms;
  for (const auto& hook : config.hooks.definitions) longest = std::max(longest, hook.timeout);
  p.runner->runUntilIdle(longest * 2 + 10s);
  if (p.runner->failed()) log_.error("the hook runner failed; due hooks run at the next start");
  bool all_answered = true;
  for (const LanePtr& lane : lanes) {
    lane->engine().forEachJob([&](const scheduler::JobRecord& job) {
      OnceRow row{job.id, job.status, job.facts.type, job.facts.pdf_name, job.facts.error};
      if (job.polled && job.last_result != api::PollResultKind::kOk) {
        row.error = "poll failed: " + std::string(api::resultLabel(job.last_result));
        all_answered = false;
      }
      each(row);
    });
  }
  return all_answered;
}

std::optional<std::string> Daemon::failure() const {
  if (auto lane = parts_->pool->failure()) return lane;
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
size_t Daemon::jobCount() const {
  size_t jobs = 0;
  for (const LanePtr& lane : parts_->pool->lanes()) jobs += lane->engine().jobCount();
  return jobs;
}

}  // namespace jobwatch::app
