// SPDX-License-Identifier: Apache-2.0
#include "metrics/daemon_metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "metrics/account_series.h"
#include "metrics/job_series_table.h"
#include "metrics/text_exposition.h"

namespace jobwatch::metrics {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::MetricFamily;

// Hooks: from a quick notification to a multi-minute result download.
const Histogram::BucketBoundaries kHookBuckets = {.01, .05, .1, .5,  1,   5,
                                                  10,  30,  60, 120, 300, 600};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jobwatchd: broken invariant: %s\n", what);
  std::abort();
}

// What the exposer serves. Owns (shares) everything it renders, so a scrape
// in flight never touches a destroyed DaemonMetrics.
class ServedMetrics final : public prometheus::Collectable, public TextExposition {
 public:
  ServedMetrics(std::shared_ptr<prometheus::Registry> registry,
                std::shared_ptr<const JobSeriesTable> table)
      : registry_(std::move(registry)), table_(std::move(table)) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> families = registry_->Collect();
    if (table_) table_->render(families);
    return families;
  }

  // What MetricsServer serves: the aggregates (a few dozen series) through
  // prometheus-cpp, the per-job series written directly.
  void writeText(PageBuffer& out) const override {
    out.append(prometheus::TextSerializer().Serialize(registry_->Collect()));
    if (table_) table_->writeText(out);
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<const JobSeriesTable> table_;
};

}  // namespace

struct DaemonMetrics::Impl {
  Impl(std::shared_ptr<prometheus::Registry> reg, MetricsOptions opts, const Clock* injected_clock,
       Log& lg)
      : registry(std::move(reg)),
        options(std::move(opts)),
        owned_clock(injected_clock ? nullptr : std::make_unique<SystemClock>()),
        clock(injected_clock ? *injected_clock : *owned_clock),
        log(lg),
        jobs(prometheus::BuildGauge()
                 .Name("jobwatch_jobs")
                 .Help("Watched jobs by current status (canonical, lowercase); every known "
                       "status is present, 0 when no job has it; words the API sent that "
                       "are not known count as other.")
                 .Register(*registry)),
        status_changes(prometheus::BuildCounter()
                           .Name("jobwatch_status_changes_total")
                           .Help("Job status changes seen, by previous (from) and new (to) "
                                 "status.")
                           .Register(*registry)),
        hook_runs(prometheus::BuildCounter()
                      .Name("jobwatch_hook_runs_total")
                      .Help("Finished hook attempts by hook and result (success, failure, "
                            "timeout, spawn_error); failed attempts are retried up to the "
                            "hook's retries, then logged as errors.")
                      .Register(*registry)),
        hook_duration(prometheus::BuildHistogram()
                          .Name("jobwatch_hook_duration_seconds")
                          .Help("Wall time of each hook attempt, by hook.")
                          .Register(*registry)),
        hooks_pending(prometheus::BuildGauge()
                          .Name("jobwatch_hooks_pending")
                          .Help("Hook runs recorded and not yet finished (waiting, retrying or "
                                "running); steady growth means hooks cannot keep up.")
                          .Register(*registry)
                          .Add({})),
        watch_rejected(prometheus::BuildCounter()
                           .Name("jobwatch_watch_rejected_total")
                           .Help("Watch-list entries or drop files rejected (invalid job ID, "
                                 "malformed file), by source (file, drop_dir); the log and "
                                 ".rejected/*.reason say why.")
                           .Register(*registry)),
        reload_ok(prometheus::BuildGauge()
                      .Name("jobwatch_config_last_reload_successful")
                      .Help("1 if the last configuration reload succeeded (1 at start); 0 "
                            "means the new config was invalid and the old one keeps running.")
                      .Register(*registry)
                      .Add({})),
        state_write_failures(prometheus::BuildCounter()
                                 .Name("jobwatch_state_write_failures_total")
                                 .Help("Commits to the state database that failed (full or "
                                       "broken disk, database locked by another process); each "
                                       "is retried and nothing is dropped.")
                                 .Register(*registry)
                                 .Add({})),
        state_up(prometheus::BuildGauge()
                     .Name("jobwatch_state_up")
                     .Help("1 while the state store answers; 0 while it cannot be reached "
                           "(PostgreSQL down): no job is polled then, nothing is lost.")
                     .Register(*registry)
                     .Add({})),
        fleet_instances(prometheus::BuildGauge()
                            .Name("jobwatch_fleet_instances")
                            .Help("Live instances sharing the state store (1 for SQLite), as "
                                  "this instance last saw them.")
                            .Register(*registry)
                            .Add({})),
        jobs_held(prometheus::BuildGauge()
                      .Name("jobwatch_jobs_held")
                      .Help("Jobs this instance holds (polls) in a fleet; sum() over the "
                            "instances counts each job once.")
                      .Register(*registry)
                      .Add({})),
        series_capped(prometheus::BuildGauge()
                          .Name("jobwatch_job_status_series_capped")
                          .Help("1 while some watched jobs have no jobwatch_job_status series "
                                "because metrics.per_job_limit is reached.")
                          .Register(*registry)
                          .Add({})),
        accounts(*registry, options.poll_results, options.result_fetch_results, clock) {
    zeroFill();
  }

  // Series that must exist before their first event, so increase() and
  // rate() see the first one; and the per-job table.
  void zeroFill() {
    for (const char* source : {"file", "drop_dir"}) watch_rejected.Add({{"source", source}});
    known.insert(options.statuses.begin(), options.statuses.end());
    for (const auto& status : options.statuses) jobsGauge(status);
    jobsGauge("other");
    reload_ok.Set(1);
    state_up.Set(1);
    fleet_instances.Set(1);
    prometheus::BuildGauge()
        .Name("jobwatch_build_info")
        .Help("Always 1; the version label says which jobwatchd is running.")
        .Register(*registry)
        .Add({{"version", options.version}})
        .Set(1);
    if (options.per_job_series) {
      table = std::make_shared<JobSeriesTable>(options.per_job_limit, series_capped);
    }
    collectable = std::make_shared<ServedMetrics>(registry, table);
  }

  // The aggregate label for a status: the word itself when it is one we
  // know (canonical, alias targets, extra terminal), else "other" - status
  // words come from the API, untrusted and unbounded (SPEC "Statuses").
  const std::string& label(const std::string& status) const {
    static const std::string kOther = "other";
    return known.count(status) > 0 ? status : kOther;
  }

  Gauge& jobsGauge(const std::string& status) {
    const std::lock_guard lock(mu);
    const std::string& word = label(status);
    auto it = jobs_by_status.find(word);
    if (it == jobs_by_status.end()) {
      it = jobs_by_status.emplace(word, &jobs.Add({{"status", word}})).first;
    }
    return *it->second;
  }

  Counter& statusChanges(const std::string& raw_from, const std::string& raw_to) {
    const std::lock_guard lock(mu);
    const std::string& from = label(raw_from);
    const std::string& to = label(raw_to);
    auto key = std::make_pair(from, to);
    auto it = changes.find(key);
    if (it == changes.end()) {
      it = changes.emplace(std::move(key), &status_changes.Add({{"from", from}, {"to", to}})).first;
    }
    return *it->second;
  }

  struct HookSeries {
    std::vector<std::pair<std::string, Counter*>> runs;  // by result label
    Histogram* duration = nullptr;
    Counter& run(const std::string& hook, std::string_view result, Family<Counter>& family) {
      for (auto& [label, counter] : runs) {
        if (label == result) return *counter;
      }
      runs.emplace_back(std::string(result),
                        &family.Add({{"hook", hook}, {"result", std::string(result)}}));
      return *runs.back().second;
    }
  };

  HookSeries& hookSeries(const std::string& hook) {
    const std::lock_guard lock(mu);
    auto it = hooks_by_name.find(hook);
    if (it == hooks_by_name.end()) {
      HookSeries series;
      for (const auto& result : options.hook_results) series.run(hook, result, hook_runs);
      series.duration = &hook_duration.Add({{"hook", hook}}, kHookBuckets);
      it = hooks_by_name.emplace(hook, series).first;
    }
    return it->second;
  }

  void trackJob(const status::Job& job) {
    if (!table || !table->upsert(job)) return;
    if (!cap_warned.exchange(true)) {
      log.warn("per-job series capped: jobs beyond the limit get no jobwatch_job_status series",
               {{"limit", std::to_string(options.per_job_limit)}, {"job_id", job.id}});
    }
  }

  std::shared_ptr<prometheus::Registry> registry;
  const MetricsOptions options;
  const std::unique_ptr<SystemClock> owned_clock;
  const Clock& clock;
  Log& log;

  Family<Gauge>& jobs;
  Family<Counter>& status_changes;
  Family<Counter>& hook_runs;
  Family<Histogram>& hook_duration;
  Gauge& hooks_pending;
  Family<Counter>& watch_rejected;
  Gauge& reload_ok;
  Counter& state_write_failures;
  std::uint64_t state_write_failures_seen = 0;  // guarded by mu
  Gauge& state_up;
  Gauge& fleet_instances;
  Gauge& jobs_held;
  Gauge& series_capped;
  AccountSeries accounts;  // after `clock` and `registry`

  // Caches of label sets already added (Family::Add would find them too, but
  // hashes every label on each call).
  std::mutex mu;
  std::unordered_set<std::string> known;  // statuses shown by name; set before any thread
  std::unordered_map<std::string, Gauge*> jobs_by_status;           // guarded by mu
  std::map<std::pair<std::string, std::string>, Counter*> changes;  // guarded by mu
  std::unordered_map<std::string, HookSeries> hooks_by_name;        // guarded by mu

  std::shared_ptr<JobSeriesTable> table;  // null when per_job_series is off
  std::atomic<bool> cap_warned{false};
  std::shared_ptr<ServedMetrics> collectable;
};

DaemonMetrics::DaemonMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsOptions options,
                             const Clock& clock, Log& log) {
  if (!registry) die("DaemonMetrics needs a registry");
  impl_ = std::make_unique<Impl>(std::move(registry), std::move(options), &clock, log);
}

DaemonMetrics::DaemonMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsOptions options,
                             Log& log) {
  if (!registry) die("DaemonMetrics needs a registry");
  impl_ = std::make_unique<Impl>(std::move(registry), std::move(options), nullptr, log);
}

DaemonMetrics::~DaemonMetrics() = default;

void DaemonMetrics::accountsConfigured(const std::vector<AccountBudget>& accounts) {
  impl_->accounts.configure(accounts);
}

void DaemonMetrics::pollFinished(std::string_view account, const PollSample& poll) {
  impl_->accounts.pollFinished(account, poll);
}

void DaemonMetrics::statusChanged(const status::Job& job, const std::string& from) {
  impl_->statusChanges(from, job.status).Increment();
  impl_->jobsGauge(from).Decrement();
  impl_->jobsGauge(job.status).Increment();
  impl_->trackJob(job);
}

void DaemonMetrics::hookFinished(const std::string& hook, std::string_view result,
                                 std::chrono::duration<double> duration) {
  auto& series = impl_->hookSeries(hook);
  {
    const std::lock_guard lock(impl_->mu);
    series.run(hook, result, impl_->hook_runs).Increment();
  }
  series.duration->Observe(duration.count());
}

void DaemonMetrics::jobsOverdue(std::string_view account, size_t overdue) {
  impl_->accounts.jobsOverdue(account, overdue);
}

void DaemonMetrics::hooksPending(size_t pending) {
  impl_->hooks_pending.Set(static_cast<double>(pending));
}

void DaemonMetrics::jobWatched(const status::Job& job) {
  impl_->jobsGauge(job.status).Increment();
  impl_->trackJob(job);
}

void DaemonMetrics::jobUnwatched(const std::string& job_id, const std::string& status) {
  impl_->jobsGauge(status).Decrement();
  if (impl_->table) impl_->table->remove(job_id);
}

void DaemonMetrics::hooksConfigured(const std::vector<std::string>& hook_names) {
  for (const auto& name : hook_names) impl_->hookSeries(name);
}

void DaemonMetrics::watchRejected(std::string_view source, size_t count) {
  impl_->watch_rejected.Add({{"source", std::string(source)}})
      .Increment(static_cast<double>(count));
}

void DaemonMetrics::resultFetched(std::string_view account, std::string_view result, bool sent) {
  impl_->accounts.resultFetched(account, result, sent);
}

void DaemonMetrics::resultGivenUp(std::string_view account) {
  impl_->accounts.resultGivenUp(account);
}

void DaemonMetrics::stateWriteFailures(std::uint64_t total) {
  const std::lock_guard lock(impl_->mu);
  if (total <= impl_->state_write_failures_seen) return;
  impl_->state_write_failures.Increment(
      static_cast<double>(total - impl_->state_write_failures_seen));
  impl_->state_write_failures_seen = total;
}

void DaemonMetrics::stateUp(bool up) { impl_->state_up.Set(up ? 1 : 0); }

void DaemonMetrics::fleetObserved(size_t instances, size_t jobs_held) {
  impl_->fleet_instances.Set(static_cast<double>(instances));
  impl_->jobs_held.Set(static_cast<double>(jobs_held));
}

void DaemonMetrics::configReloaded(bool successful) { impl_->reload_ok.Set(successful ? 1 : 0); }

std::shared_ptr<prometheus::Collectable> DaemonMetrics::collectable() { return impl_->collectable; }

}  // namespace jobwatch::metrics
