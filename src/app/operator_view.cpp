// SPDX-License-Identifier: Apache-2.0
#include "app/operator_view.h"

#include <algorithm>
#include <future>
#include <utility>

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
  std::vector<std::string> known_statuses;
};

}  // namespace

OperatorView::OperatorView(OperatorParts parts)
    : p_(parts), started_(parts.clock.now()), started_at_(parts.clock.wallNow()) {}

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
  r.started_at = started_at_;
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
    c.account.polled = feed.polled();
    c.known_statuses = feed.knownStatuses();
    return c;
  });
  if (live) {
    r.scheduler_answered = true;
    r.jobs_by_status = std::move(live->by_status);
    r.jobs = live->jobs;
    r.accounts.push_back(live->account);
    r.known_statuses = std::move(live->known_statuses);
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

namespace {

JobRow rowOf(const scheduler::JobRecord& job) {
  JobRow row;
  row.id = job.id;
  row.status = job.status;
  row.type = job.facts.type;
  row.pdf_name = job.facts.pdf_name;
  row.source = job.source;
  row.added_at = job.added_at;
  if (job.polled) row.last_poll = job.last_poll_at;
  return row;
}

// On the scheduler: the matching rows (the newest filter.newest of them
// when set) and how many matched.
std::pair<std::vector<JobRow>, size_t> matchingRows(const scheduler::PollEngine& engine,
                                                    const JobsFilter& filter) {
  std::vector<JobRow> out;
  if (filter.newest == 0) {
    engine.forEachJob([&](const scheduler::JobRecord& job) {
      if (filter.matches(job.status, "default")) out.push_back(rowOf(job));
    });
    const size_t matching = out.size();
    return {std::move(out), matching};
  }
  NewestJobs newest(filter, filter.newest);
  engine.forEachJob([&newest](const scheduler::JobRecord& job) { newest.offer(job); });
  for (const scheduler::JobRecord* job : newest.take()) out.push_back(rowOf(*job));
  return {std::move(out), newest.matching()};
}

}  // namespace

Result<JobsReport> OperatorView::jobs(const JobsFilter& filter) {
  const scheduler::PollEngine& engine = p_.engine;
  auto rows = onScheduler<std::pair<std::vector<JobRow>, size_t>>(
      [&engine, filter] { return matchingRows(engine, filter); });
  if (!rows) return schedulerSilent();
  JobsReport r;
  r.live = true;
  r.now = p_.clock.wallNow();
  r.jobs = std::move(rows->first);
  r.matching = rows->second;
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

Result<HooksReport> OperatorView::hooks(bool failed_only, size_t limit) {
  if (p_.reader == nullptr) return noReader();
  auto read = hooksFromStore(*p_.reader, failed_only, p_.clock.wallNow(), limit);
  if (!read) return read.error();
  HooksReport r = std::move(read).value();
  r.live = true;
  return r;
}

Result<std::vector<RecentTransition>> OperatorView::recentTransitions(size_t limit, bool names) {
  if (p_.reader == nullptr) return noReader();
  auto read = p_.reader->recentTransitions(limit);
  if (!read) return read.error();
  std::vector<RecentTransition> out;
  std::vector<std::string> ids;
  for (state::TransitionEntry& entry : std::move(read).value()) {
    ids.push_back(entry.job_id);
    out.push_back({std::move(entry), {}});
  }
  if (!names || ids.empty()) return out;
  const scheduler::PollEngine& engine = p_.engine;
  auto found = onScheduler<std::vector<std::string>>([&engine, ids = std::move(ids)] {
    std::vector<std::string> pdf_names;
    for (const auto& id : ids) {
      const scheduler::JobRecord* job = engine.find(id);
      pdf_names.push_back(job != nullptr ? job->facts.pdf_name : std::string());
    }
    return pdf_names;
  });
  if (found) {
    for (size_t i = 0; i < out.size(); ++i) out[i].pdf_name = std::move((*found)[i]);
  }
  return out;
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
