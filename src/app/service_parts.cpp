#include "app/service_parts.h"

#include <prometheus/registry.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "app/version.h"
#include "watchlist/shard.h"
#include "watchlist/watch_file.h"

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

std::string envOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

}  // namespace

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
  return s;
}

Result<std::unique_ptr<ServiceParts>> ServiceParts::build(const config::Config& config, Log& log,
                                                          const Clock& clock) {
  auto key = config::readApiKey(config.api);
  if (!key.ok()) return Error{key.error().message};
  auto lock = state::StateLock::acquire(config.state.path);
  if (!lock.ok()) return Error{lock.error().message};
  state::OpenOptions open_options;
  open_options.on_wait = [&log](const Error& error, std::chrono::milliseconds retry_in) {
    log.warn("state database is locked by another process; waiting",
             {{"error", error.message}, {"retry_in_ms", std::to_string(retry_in.count())}});
  };
  auto store = state::StateStore::open(config.state.path, clock, open_options);
  if (!store.ok()) return store.error();  // its kind decides the exit code

  std::unique_ptr<ServiceParts> parts(new ServiceParts(config, log, clock));
  parts->lock_ = std::move(lock).value();
  parts->store_ = std::move(store).value();

  const status::StatusMapper mapper = statusMapperFrom(config);
  metrics::MetricsOptions metrics_options;
  metrics_options.statuses = mapper.knownStatuses();
  metrics_options.poll_results = pollResultLabels();
  metrics_options.hook_results = hookResultLabels();
  metrics_options.per_job_series = config.metrics.per_job_series;
  metrics_options.per_job_limit = config.metrics.per_job_limit;
  metrics_options.version = kVersion;
  parts->metrics_ = std::make_unique<metrics::DaemonMetrics>(
      std::make_shared<prometheus::Registry>(), std::move(metrics_options), clock, log);
  std::vector<std::string> hook_names;
  for (const auto& hook : config.hooks.definitions) hook_names.push_back(hook.name);
  parts->metrics_->hooksConfigured(hook_names);

  hooks::HookRunnerOptions hook_options;
  hook_options.hooks = config.hooks;
  hook_options.path_env = envOr("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  hook_options.lang_env = envOr("LANG", "C.UTF-8");
  parts->metrics_feed_ = std::make_unique<MetricsFeed>(*parts->metrics_);
  parts->runner_ = std::make_unique<hooks::HookRunner>(std::move(hook_options), *parts->store_,
                                                       clock, log, parts->metrics_feed_.get());
  hooks::HookRunner* runner = parts->runner_.get();
  parts->writer_ = std::make_unique<state::StateWriter>(*parts->store_, log, clock,
                                                        [runner] { runner->wake(); });

  parts->transport_ =
      std::make_unique<api::CurlMultiTransport>(transportOptionsFrom(config, key.value()));

  parts->log_events_ = std::make_unique<TransitionLog>(log);
  parts->recorder_ = std::make_unique<TransitionRecorder>(*parts->writer_, config.hooks.definitions);
  parts->fanout_ = std::make_unique<scheduler::PollEventsFanout>(
      std::vector<scheduler::PollEvents*>{parts->log_events_.get(), parts->recorder_.get(),
                                          parts->metrics_feed_.get()});
  parts->engine_ = std::make_unique<scheduler::PollEngine>(
      scheduleSettingsFrom(config), mapper, *parts->transport_, clock, *parts->fanout_, log,
      std::random_device{}());
  return parts;
}

ServiceParts::~ServiceParts() { stopBackground(); }

Status ServiceParts::restoreState() {
  auto jobs = store_->loadJobs();
  if (!jobs.ok()) return jobs.error();
  size_t terminal = 0;
  for (const auto& stored : jobs.value()) {
    terminal += stored.terminal;
    engine_->restoreJob(toJobRecord(stored));
  }
  refreshForgotten();
  auto recovered = store_->recoverInterruptedRuns();
  if (!recovered.ok()) return recovered.error();
  auto pending = store_->countRuns(state::HookRunState::kPending);
  log_.info("state loaded", {{"path", store_->path().string()},
                             {"jobs", std::to_string(jobs.value().size())},
                             {"terminal", std::to_string(terminal)},
                             {"hooks_pending", pending.ok() ? std::to_string(pending.value()) : "?"}});
  if (recovered.value() > 0) {
    log_.warn("hook runs were in flight when jobwatchd last stopped; running them again",
              {{"runs", std::to_string(recovered.value())}});
  }
  return Ok{};
}

void ServiceParts::refreshForgotten() {
  auto forgotten = store_->loadForgotten();
  if (!forgotten.ok()) {
    log_.error("could not read forgotten jobs", {{"error", forgotten.error().message}});
    return;
  }
  forgotten_ = {forgotten.value().begin(), forgotten.value().end()};
}

std::optional<watchlist::WatchParse> ServiceParts::readWatchFile() const {
  if (!config_.watch.file) return std::nullopt;
  watchlist::WatchParse parsed = watchlist::loadWatchFile(*config_.watch.file);
  for (const auto& issue : parsed.issues) {
    log_.error("watch file entry rejected", {{"problem", issue.toString()}});
  }
  metrics_->watchRejected("file", parsed.issues.size());
  return parsed;
}

bool ServiceParts::inThisShard(const std::string& id) const {
  return watchlist::inShard(id, config_.shard.index, config_.shard.count);
}

void ServiceParts::applyWatchFile(const watchlist::WatchParse& parsed, bool due_now) {
  // Memory: at 100,000 new jobs every temporary here would otherwise sit
  // between the jobs' own small allocations and leave holes in the heap
  // for good. So the one temporary index (`listed`) is a single array made
  // before any job is added, and the write batch is filled only after all
  // jobs are in the engine (README: Performance, Memory).
  std::vector<std::string_view> listed;
  listed.reserve(parsed.entries.size());
  for (const auto& entry : parsed.entries) {
    if (inThisShard(entry.id)) listed.push_back(entry.id);
  }
  std::sort(listed.begin(), listed.end());
  const auto isListed = [&listed](std::string_view id) {
    return std::binary_search(listed.begin(), listed.end(), id);
  };
  const size_t other_shards = parsed.entries.size() - listed.size();

  std::vector<size_t> new_entries;  // indexes into parsed.entries
  for (size_t i = 0; i < parsed.entries.size(); ++i) {
    const watchlist::WatchEntry& entry = parsed.entries[i];
    if (!inThisShard(entry.id)) continue;
    if (forgotten_.count(entry.id) > 0) continue;  // finished and forgotten: not again
    if (engine_->addJob({entry.id, entry.labels, status::JobSource::kWatchFile}, due_now)) new_entries.push_back(i);
  }
  state::WriteBatch batch;
  batch.jobs.reserve(new_entries.size());
  for (size_t i : new_entries) {
    batch.jobs.push_back(toStoredJob(*engine_->find(parsed.entries[i].id), {}));
  }
  // Jobs that left the watch file stop being watched - unless the file has
  // problems, in which case a half-read file must not unwatch anything.
  std::vector<std::string> gone;
  if (parsed.issues.empty()) {
    engine_->forEachJob([&](const scheduler::JobRecord& job) {
      if (job.source == status::JobSource::kWatchFile && !isListed(job.id)) gone.push_back(job.id);
    });
    for (auto it = forgotten_.begin(); it != forgotten_.end();) {
      if (!isListed(*it)) {
        batch.removed.push_back(*it);  // its tombstone goes
        it = forgotten_.erase(it);
      } else {
        ++it;
      }
    }
  } else {
    log_.warn("watch file has problems: jobs missing from it stay watched until it is fixed");
  }
  for (const auto& id : gone) engine_->removeJob(id);
  batch.removed.insert(batch.removed.end(), gone.begin(), gone.end());
  const size_t added = batch.jobs.size();
  if (!batch.empty()) writer_->enqueue(std::move(batch));
  LogFields fields = {{"file", config_.watch.file ? config_.watch.file->string() : ""},
                      {"jobs", std::to_string(parsed.entries.size())},
                      {"new", std::to_string(added)},
                      {"unwatched", std::to_string(gone.size())},
                      {"rejected", std::to_string(parsed.issues.size())}};
  if (config_.shard.count > 1) fields.push_back({"other_shards", std::to_string(other_shards)});
  log_.info("watch file loaded", fields);
}

size_t ServiceParts::addDropped(const std::vector<watchlist::WatchEntry>& entries) {
  state::WriteBatch batch;
  for (const auto& entry : entries) {
    if (!inThisShard(entry.id)) continue;
    if (engine_->addJob({entry.id, entry.labels, status::JobSource::kDropDir})) {
      batch.jobs.push_back(toStoredJob(*engine_->find(entry.id), {}));
    }
  }
  const size_t added = batch.jobs.size();
  if (!batch.empty()) writer_->enqueue(std::move(batch));
  return added;
}

void ServiceParts::loadWatchFile(bool due_now) {
  // Read on a thread of its own: the YAML tree and the parsed entries are
  // allocated in that thread's malloc arena, not between the jobs' own
  // allocations in this one, where they would leave holes once freed
  // (README: Performance, Memory).
  std::optional<watchlist::WatchParse> parsed;
  std::thread([&] { parsed = readWatchFile(); }).join();
  if (parsed) applyWatchFile(*parsed, due_now);
}

void ServiceParts::startBackground() {
  writer_->start();
  runner_->start();
}

void ServiceParts::stopBackground() {
  if (background_stopped_) return;
  background_stopped_ = true;
  if (writer_ && !writer_->stop(10s)) {
    log_.error("state writes could not be committed before stopping; the next start re-polls "
               "the affected jobs");
  }
  if (runner_) runner_->stop();
}

}  // namespace jobwatch::app
