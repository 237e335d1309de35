// SPDX-License-Identifier: Apache-2.0
#include "app/operator_view.h"

#include <algorithm>
#include <future>

#include "app/metrics_feed.h"
#include "app/operator_feed.h"
#include "app/operator_source.h"
#include "app/version.h"
#include "hooks/hook_runner.h"
#include "scheduler/poll_engine.h"
#include "scheduler/poll_loop.h"
#include "scheduler/roster.h"
#include "state/state_reader.h"
#include "state/state_writer.h"

namespace jobwatch::app {
namespace {

Error schedulerSilent() {
  return Error{"the scheduler did not answer within 2 s (busy or stuck); try again",
               ErrorKind::kRuntime};
}

Error noReader() {
  return Error{"the state database cannot be read for history (see the daemon's log)",
               ErrorKind::kRuntime};
}

// What `status` needs from the scheduler thread.
struct LiveCounts {
  std::map<std::string, size_t> by_status;
  size_t jobs = 0;
  AccountStatus account;
};

}  // namespace

OperatorView::OperatorView(OperatorParts parts) : p_(parts), started_(parts.clock.now()) {}

template <typename T>
std::optional<T> OperatorView::onScheduler(std::function<T()> fn) {
  auto box = std::make_shared<std::promise<T>>();
  std::future<T> answer = box->get_future();
  if (!p_.loop.post([box, fn = std::move(fn)] { box->set_value(fn()); })) return std::nullopt;
  if (answer.wait_for(kSchedulerWait) != std::future_status::ready) return std::nullopt;
  return answer.get();
}

void OperatorView::reloaded(bool ok) {
  std::lock_guard lock(mu_);
  last_reload_ = p_.clock.wallNow();
  last_reload_ok_ = ok;
}

StatusReport OperatorView::status() {
  StatusReport r;
  r.live = true;
  r.version = kVersion;
  r.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(p_.clock.now() - started_);
  scheduler::PollEngine& engine = p_.engine;
  OperatorFeed& feed = p_.feed;
  auto live = onScheduler<LiveCounts>([&engine, &feed] {
    LiveCounts c;
    c.by_status = engine.statusCounts();
    c.jobs = engine.jobCount();
    c.account.api_up = !engine.apiDown();
    c.account.auth_failing = engine.authFailing();
    c.account.budget_per_minute = std::max(0.0, engine.settings().rate_per_second * 60);
    c.account.requests_last_minute = feed.requestsLastMinute();
    c.account.last_success = feed.lastSuccess();
    return c;
  });
  if (live) {
    r.jobs_by_status = live->by_status;
    r.jobs = live->jobs;
    r.accounts.push_back(live->account);
    if (!live->account.api_up) r.problems.push_back("API unreachable or failing");
    if (live->account.auth_failing) r.problems.push_back("API refuses the key (401/403)");
  } else {
    r.problems.push_back("scheduler not answering");
  }
  r.hooks.pending = p_.metrics_feed.hooksPending();
  r.hooks.running = p_.runner.running();
  if (p_.reader != nullptr) {
    if (auto failed = p_.reader->countRuns(state::HookRunState::kFailed)) r.hooks.failed = *failed;
  }
  if (p_.writer.failing()) r.problems.push_back("state writes failing");
  std::lock_guard lock(mu_);
  r.last_reload = last_reload_;
  r.last_reload_ok = last_reload_ok_;
  if (!last_reload_ok_) r.problems.push_back("last reload failed (old configuration running)");
  return r;
}

Result<JobsReport> OperatorView::jobs(const JobsFilter& filter) {
  scheduler::PollEngine& engine = p_.engine;
  auto rows = onScheduler<std::vector<JobRow>>([&engine, filter] {
    std::vector<JobRow> out;
    engine.forEachJob([&](const scheduler::JobRecord& job) {
      if (!filter.matches(job.status, "default")) return;
      JobRow row;
      row.id = job.id;
      row.status = job.status;
      row.type = job.facts.type;
      row.pdf_name = job.facts.pdf_name;
      row.source = job.source;
      row.added_at = job.added_at;
      if (job.polled) row.last_poll = job.last_poll_at;
      out.push_back(std::move(row));
    });
    return out;
  });
  if (!rows) return schedulerSilent();
  JobsReport r;
  r.live = true;
  r.now = p_.clock.wallNow();
  r.jobs = std::move(*rows);
  std::sort(r.jobs.begin(), r.jobs.end(),
            [](const JobRow& a, const JobRow& b) { return a.id < b.id; });
  return r;
}

Result<std::optional<JobDetail>> OperatorView::job(const std::string& id) {
  if (p_.reader == nullptr) return noReader();
  scheduler::PollEngine& engine = p_.engine;
  auto found = onScheduler<std::optional<scheduler::JobRecord>>(
      [&engine, id]() -> std::optional<scheduler::JobRecord> {
        const scheduler::JobRecord* job = engine.find(id);
        if (job == nullptr) return std::nullopt;
        return *job;
      });
  if (!found) return schedulerSilent();
  if (!*found) {
    // Not watched (any more): what the store still knows, if anything.
    auto stored = jobFromStore(*p_.reader, id, p_.clock.wallNow());
    if (!stored) return stored.error();
    std::optional<JobDetail> detail = std::move(stored).value();
    if (detail) detail->live = true;
    return detail;
  }
  const scheduler::JobRecord& record = **found;
  JobDetail d;
  d.live = true;
  d.now = p_.clock.wallNow();
  d.job = record;
  if (record.polled) d.last_poll = record.last_poll_at;
  d.consecutive_errors = record.consecutive_errors;
  if (auto added = addHistory(*p_.reader, d); !added) return added.error();
  return std::optional<JobDetail>(std::move(d));
}

Result<HooksReport> OperatorView::hooks(bool failed_only) {
  if (p_.reader == nullptr) return noReader();
  auto read = hooksFromStore(*p_.reader, failed_only, p_.clock.wallNow());
  if (!read) return read.error();
  HooksReport r = std::move(read).value();
  r.live = true;
  return r;
}

Result<std::vector<state::TransitionEntry>> OperatorView::recentTransitions(size_t limit) {
  if (p_.reader == nullptr) return noReader();
  return p_.reader->recentTransitions(limit);
}

Result<std::vector<state::HookRun>> OperatorView::retry(const std::vector<std::string>& events) {
  auto requeued = p_.store.retryFailedRuns(events);
  if (requeued && !requeued->empty()) p_.runner.wake();
  return requeued;
}

Result<std::vector<JobOutcome>> OperatorView::pollNow(const std::vector<std::string>& ids) {
  scheduler::PollEngine& engine = p_.engine;
  auto out = onScheduler<std::vector<JobOutcome>>([&engine, ids] {
    std::vector<JobOutcome> outcomes;
    for (const auto& id : ids) {
      using PN = scheduler::PollEngine::PollNow;
      switch (engine.pollNow(id)) {
        case PN::kQueued:
          outcomes.push_back({id, true, "due now (polled as the budget allows)"});
          break;
        case PN::kInFlight:
          outcomes.push_back({id, true, "a poll is already in flight"});
          break;
        case PN::kTerminal:
          outcomes.push_back({id, false, "finished; never polled again"});
          break;
        case PN::kNotWatched:
          outcomes.push_back({id, false, "not watched"});
          break;
      }
    }
    return outcomes;
  });
  if (!out) return schedulerSilent();
  return std::move(*out);
}

Result<std::vector<JobOutcome>> OperatorView::forget(const std::vector<std::string>& ids) {
  scheduler::Roster& roster = p_.roster;
  auto out = onScheduler<std::vector<JobOutcome>>([&roster, ids] {
    std::vector<JobOutcome> outcomes;
    for (const auto& id : ids) {
      using FO = scheduler::Roster::ForgetOutcome;
      switch (roster.forgetDropped(id)) {
        case FO::kForgotten:
          outcomes.push_back({id, true, "forgotten"});
          break;
        case FO::kInWatchFile:
          outcomes.push_back(
              {id, false, "listed in the watch file: remove it there to stop watching it"});
          break;
        case FO::kNotWatched:
          outcomes.push_back({id, false, "not watched"});
          break;
      }
    }
    return outcomes;
  });
  if (!out) return schedulerSilent();
  // Committed before the answer, like every operator change.
  if (!p_.writer.flush(kSchedulerWait)) {
    return Error{"forgotten, but not yet committed to the state database", ErrorKind::kRuntime};
  }
  return std::move(*out);
}

}  // namespace jobwatch::app
