// SPDX-License-Identifier: Apache-2.0
#include "app/status_page_sources.h"

#include <algorithm>
#include <thread>

#include "app/operator_view.h"
#include "app/version.h"

namespace jobwatch::app {
namespace {

JobsFilter filterOf(const PageQuery& query) {
  JobsFilter filter;
  filter.statuses.assign(query.statuses.begin(), query.statuses.end());
  filter.newest = kStatusPageRows;
  return filter;
}

// The scheduler's share: the summary, the jobs and the transitions' names.
void readFromScheduler(OperatorView& view, const PageQuery& query, StatusPageModel& model) {
  const StatusReport status = view.status();
  addStatus(status, model);
  if (!status.scheduler_answered) {
    model.notes.push_back("the scheduler did not answer within " +
                          formatDuration(OperatorView::kSchedulerWait) + ": no job list this time");
  } else if (auto jobs = view.jobs(filterOf(query)); jobs.ok()) {
    addJobs(std::move(jobs).value(), model);
  } else {
    model.notes.push_back(jobs.error().message);
  }
  auto transitions = view.recentTransitions(kRecentTransitions, status.scheduler_answered);
  if (transitions.ok()) {
    addTransitions(std::move(transitions).value(), model);
  } else {
    model.notes.push_back("recent transitions could not be read: " + transitions.error().message);
  }
}

}  // namespace

StatusPageModel StatusPageSource::read(OperatorView* view, const PageQuery& query, Millis within) {
  StatusPageModel model;
  model.version = kVersion;
  model.query = query;
  model.now = clock_.wallNow();
  model.started_at = model.now;
  if (view == nullptr) {
    model.notes.push_back("the scheduler is not running: no job list");
    return model;
  }
  model.started_at = view->startedAt();
  const auto deadline = std::chrono::steady_clock::now() + within;
  std::unique_lock turn(turn_, std::defer_lock);
  if (!turn.try_lock_until(deadline)) {
    model.notes.push_back("busy: other status pages are being made; no job list this time");
    return model;
  }
  std::this_thread::sleep_until(std::min(next_read_, deadline));
  readFromScheduler(*view, query, model);
  next_read_ = std::chrono::steady_clock::now() + kReadGap;
  turn.unlock();
  if (auto hooks = view->hooks(true, kStatusPageFailedHooks); hooks.ok()) {
    addFailedHooks(hooks.value(), model);
  } else {
    model.hooks_failed.reset();
    model.notes.push_back("the hook ledger could not be read: " + hooks.error().message);
  }
  return model;
}

void addStatus(const StatusReport& report, StatusPageModel& model) {
  if (report.started_at) model.started_at = *report.started_at;
  model.accounts = report.accounts;
  model.problems = report.problems;
  model.fleet = report.fleet;
  model.instances = report.instances;
  if (report.scheduler_answered) {
    model.status_counts = report.jobs_by_status;
    model.job_count = report.jobs;
  }
  model.known_statuses = report.known_statuses;
  model.hooks_pending = report.hooks.pending;
  model.hooks_running = report.hooks.running;
  model.hooks_failed = report.hooks.failed;
  model.last_reload_at = report.last_reload;
  model.last_reload_ok = report.last_reload_ok;
}

void addJobs(JobsReport report, StatusPageModel& model) {
  model.jobs.clear();
  model.jobs.reserve(report.jobs.size());
  for (JobRow& row : report.jobs) {
    model.jobs.push_back({std::move(row.id), std::move(row.status), std::move(row.type),
                          std::move(row.pdf_name), row.added_at,
                          row.last_poll.value_or(WallTime{})});
  }
  std::sort(model.jobs.begin(), model.jobs.end(),
            [](const StatusPageJob& a, const StatusPageJob& b) {
              if (a.added_at != b.added_at) return a.added_at > b.added_at;
              return a.id < b.id;
            });
  model.jobs_matching = report.matching;
}

void addTransitions(std::vector<RecentTransition> transitions, StatusPageModel& model) {
  model.transitions.clear();
  model.transitions.reserve(transitions.size());
  for (RecentTransition& t : transitions) {
    model.transitions.push_back({t.entry.at, std::move(t.entry.job_id), std::move(t.entry.from),
                                 std::move(t.entry.to), std::move(t.pdf_name)});
  }
}

void addFailedHooks(const HooksReport& report, StatusPageModel& model) {
  model.failed_hooks.clear();
  for (const state::HookRun& run : report.runs) {
    if (run.state != state::HookRunState::kFailed) continue;
    model.failed_hooks.push_back(
        {run.run_id, run.job_id, run.hook, run.status, run.attempts, run.last_error});
  }
}

}  // namespace jobwatch::app
