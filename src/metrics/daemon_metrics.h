// SPDX-License-Identifier: Apache-2.0
// DaemonMetrics: every metric of the SPEC table, served through one
// prometheus::Collectable. A leaf: it offers plain calls and knows nothing
// of the engine or the hook runner; app/metrics_feed.h turns their events
// into these calls (one path per metric).
//
// Aggregates live in an injected prometheus::Registry (ordinary families).
// The per-job series jobwatch_job_status{job_id,status,type} do NOT use a
// prometheus-cpp Family (Family::Remove is a linear scan: removing 50k of
// 100k series takes minutes); they come from our own table, O(1) to add,
// change and remove, rendered at scrape time under our lock, capped at
// per_job_limit (beyond it: aggregates only, warned once).
//
// collectable() returns what the exposer serves: the registry's families
// plus the per-job families. It is also a TextExposition
// (text_exposition.h): MetricsServer has it write the per-job series as
// text directly, without one prometheus-cpp object per series. Besides
// jobwatch_job_status it renders
// jobwatch_job_added_timestamp_seconds{job_id} (unix seconds of
// Job.added_at) for jobs not yet terminal, so dashboards can show how
// long each unfinished job has waited. The aggregate
// jobwatch_job_status_series_capped is 1 while some watched jobs have no
// per-job series because of per_job_limit; such jobs take the place of a
// job that leaves (their status kept current meanwhile).
//
// Ownership: the registry and the collectable are shared with the exposer;
// the collectable owns what it renders, so it stays valid even if the
// exposer outlives this object. `clock` and `log` must outlive this object.
//
// Accounts (SPEC "Accounts"): the metrics that concern the API carry an
// `account` label: polls_total, poll_duration_seconds, api_up,
// last_successful_poll_timestamp_seconds, requests_total,
// result_fetches_total, results_given_up_total, jobs_overdue and
// requests_budget_per_second. Each
// account's series live in one small struct found through one short lock
// (accounts_mu, separate from the job-status lock), so the engine threads of
// several accounts polling at ~10,000/s share only that map lookup. The
// per-job series get no account label (cardinality stays one per job).
//
// Thread-safety: every method may be called from any thread (scheduler,
// engine threads, hook runner, main); the scrape runs on the exposer's
// threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "status/job_facts.h"
#include "util/clock.h"
#include "util/log.h"

namespace prometheus {
class Registry;
class Collectable;
}  // namespace prometheus

namespace jobwatch::metrics {

struct MetricsOptions {
  // The known status vocabulary (canonical, alias targets, extra terminal),
  // zero-filled in jobwatch_jobs. Any other word - the API's, untrusted and
  // unbounded - counts as "other" in jobwatch_jobs and
  // jobwatch_status_changes_total; only the job's own series shows it. Set
  // at start (a reload that adds words shows them from the next start).
  std::vector<std::string> statuses;
  std::vector<std::string> poll_results;  // every result label of polls_total (zero-filled)
  std::vector<std::string> hook_results;  // every result label of hook_runs_total (zero-filled)
  // Every result label of result_fetches_total (zero-filled).
  std::vector<std::string> result_fetch_results;
  bool per_job_series = true;
  std::uint64_t per_job_limit = 100000;
  std::string version;
};

// One account as the metrics know it (accountsConfigured).
struct AccountBudget {
  std::string name;
  // api.rate_limit.per_second of the account; 0 (or less) = unlimited.
  double requests_per_second = 0;
};

// One finished poll, as the metrics count it.
struct PollSample {
  std::string_view result;  // a label of MetricsOptions::poll_results
  bool api_up = false;      // the API answered and accepted the key
  bool usable = false;      // the answer was a usable job (sets the last-success time)
  std::chrono::duration<double> elapsed{0};
};

class DaemonMetrics final {
 public:
  // jobwatch_last_successful_poll_timestamp_seconds is read from `clock`
  // (wallNow) when a usable poll finishes.
  DaemonMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsOptions options,
                const Clock& clock, Log& log);
  // Same, with the system clock.
  DaemonMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsOptions options, Log& log);
  ~DaemonMetrics();
  DaemonMetrics(const DaemonMetrics&) = delete;
  DaemonMetrics& operator=(const DaemonMetrics&) = delete;

  // The accounts of the configuration, at start and after each reload.
  // jobwatch_requests_budget_per_second{account} is the account's
  // rate_limit.per_second, and 0 when it has none (unlimited): divide by
  // `(jobwatch_requests_budget_per_second > 0)` so unlimited accounts have
  // no "budget used" series rather than +Inf. Every per-account series of
  // each account is created at 0 (polls_total per result, requests_total per
  // kind, result_fetches_total per result, api_up, jobs_overdue,
  // last_successful_poll_timestamp_seconds, poll_duration_seconds), so
  // dashboards and alerts see 0 rather than no data. Accounts no longer
  // listed lose every per-account series.
  void accountsConfigured(const std::vector<AccountBudget>& accounts);

  // For `account`: polls_total{account,result},
  // poll_duration_seconds{account}, api_up{account},
  // last_successful_poll_timestamp_seconds{account} and
  // requests_total{account,kind="status"}. An account not configured (yet,
  // or any more) gets its series on first use, without a budget series; the
  // next accountsConfigured removes them again if it is not listed.
  void pollFinished(std::string_view account, const PollSample& poll);
  // `job` has entered its (new) status from `from`: status_changes_total,
  // jobs{status} and the job's per-job series.
  void statusChanged(const status::Job& job, const std::string& from);
  // A job starts or stops being watched (jobs{status} and per-job series).
  void jobWatched(const status::Job& job);
  void jobUnwatched(const std::string& job_id, const std::string& status);

  // hook_runs_total{hook,result} and hook_duration_seconds{hook}.
  void hookFinished(const std::string& hook, std::string_view result,
                    std::chrono::duration<double> duration);
  void hooksPending(size_t pending);
  // jobs_overdue{account}: unfinished jobs of `account` that raised the
  // overdue event (a set, not an increment: one caller per account).
  void jobsOverdue(std::string_view account, size_t overdue);
  // Creates hook_runs_total{hook,result} for every result at 0, so the
  // first failure of a hook shows in increase()/rate() (a series that is
  // born at 1 does not). Call at start and after each reload; only adds.
  void hooksConfigured(const std::vector<std::string>& hook_names);

  void watchRejected(std::string_view source, size_t count);  // "file" | "drop_dir"
  // A fetch of a job's result finished (SPEC "Results"):
  // result_fetches_total{account,result}, and when `sent` (a request went
  // out) requests_total{account,kind="result"}. A write_error after the
  // answer (commit failed) was sent; one before it (the file could not be
  // created) was not, and gave its token back to the account's budget, so
  // it is no request: requests_total is what the budget is measured against.
  void resultFetched(std::string_view account, std::string_view result, bool sent = true);
  // A job's result was given up (results.give_up_after, or too large):
  // results_given_up_total{account}, created at 0 with the account.
  void resultGivenUp(std::string_view account);
  // jobwatch_state_write_failures_total: `total` is the state writer's own
  // count of failed commits so far (the counter follows it).
  void stateWriteFailures(std::uint64_t total);
  void configReloaded(bool successful);
  // jobwatch_state_up; SPEC "High availability": jobwatch_fleet_instances
  // (live instances seen) and jobwatch_jobs_held (this instance's jobs).
  void stateUp(bool up);
  void fleetObserved(size_t instances, size_t jobs_held);

  std::shared_ptr<prometheus::Collectable> collectable();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobwatch::metrics
