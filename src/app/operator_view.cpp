// SPDX-License-Identifier: Apache-2.0
#include "app/operator_view.h"

#include <algorithm>
#include <future>
#include <utility>

#include "app/fleet_keeper.h"
#include "app/metrics_feed.h"
#include "app/operator_feed.h"
#include "app/operator_source.h"
#include "app/poll_lane.h"
#include "app/scheduler_pool.h"
#include "app/version.h"
#include "hooks/hook_runner.h"
#include "scheduler/poll_engine.h"
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

// The lanes of one account share its budget: their requests add up, its
// API is up while every lane finds it up.
void mergeAccount(std::vector<AccountStatus>& accounts, const AccountStatus& lane) {
  auto it = std::find_if(accounts.begin(), accounts.end(),
                         [&](const AccountStatus& a) { return a.name == lane.name; });
  if (it == accounts.end()) {
    accounts.push_back(lane);
    return;
  }
  it->api_up = it->api_up && lane.api_up;
  it->auth_failing = it->auth_failing || lane.auth_failing;
  it->requests_last_minute += lane.requests_last_minute;
  it->polled = it->polled || lane.polled;
  if (lane.last_success && (!it->last_success || *lane.last_success > *it->last_success)) {
    it->last_success = lane.last_success;
  }
}

}  // namespace

OperatorView::OperatorView(OperatorParts parts)
    : p_(parts), started_(parts.clock.now()), started_at_(parts.clock.wallNow()) {}

template <typename T>
std::optional<std::vector<T>> OperatorView::onEveryLane(const std::function<T(PollLane&)>& fn) {
  std::vector<T> out;
  for (auto& answer : p_.pool.askEach(fn, kSchedulerWait)) {
    if (!answer) return std::nullopt;
    out.push_back(std::move(*answer));
  }
  return out;
}

bool OperatorView::knowsAccount(const std::string& name) const { return p_.pool.hasAccount(name); }

void OperatorView::reloaded(bool ok) {
  std::lock_guard lock(mu_);
  last_reload_ = p_.clock.wallNow();
  last_reload_ok_ = ok;
}

namespace {

void addFleet(StatusReport& r, const FleetKeeper& fleet) {
  r.fleet = true;
  if (!fleet.storeUp()) {
    r.problems.push_back("state store unreachable: not polling (" + fleet.lastError() + ")");
  }
  for (const state::FleetMember& m : fleet.members()) {
    r.instances.push_back({m.instance, m.jobs_held, m.started, m.heartbeat, m.self});
  }
}

}  // namespace

StatusReport OperatorView::status() {
  StatusReport r;
  r.live = true;
  r.version = kVersion;
  r.uptime = std::chrono::duration_cast<std::chrono::milliseconds>(p_.clock.now() - started_);
  r.started_at = started_at_;
  const std::function<LiveCounts(PollLane&)> read = [](PollLane& lane) {
    const scheduler::PollEngine& engine = lane.engine();
    const OperatorFeed& feed = lane.feed();
    LiveCounts c;
    c.by_status = engine.statusCounts();
    c.jobs = engine.jobCount();
    c.account.name = lane.account();
    c.account.api_up = !engine.apiDown();
    c.account.auth_failing = engine.authFailing();
    c.account.budget_per_minute = std::max(0.0, engine.settings().rate_per_second * 60);
    c.account.requests_last_minute = feed.requestsLastMinute();
    c.account.last_success = feed.lastSuccess();
    c.account.polled = feed.polled();
    c.known_statuses = feed.knownStatuses();
    return c;
  };
  if (auto lanes = onEveryLane(read)) {
    r.scheduler_answered = true;
    for (LiveCounts& lane : *lanes) {
      for (const auto& [status, n] : lane.by_status) r.jobs_by_status[status] += n;
      r.jobs += lane.jobs;
      r.known_statuses = std::move(lane.known_statuses);
      mergeAccount(r.accounts, lane.account);
    }
    for (const AccountStatus& account : r.accounts) {
      const std::string which = r.accounts.size() > 1 ? " (account " + account.name + ")" : "";
      if (!account.api_up) r.problems.push_back("API unreachable or failing" + which);
      if (account.auth_failing) r.problems.push_back("API refuses the key (401/403)" + which);
    }
  } else {
    r.problems.push_back("scheduler not answering");
  }
  if (p_.fleet != nullptr) addFleet(r, *p_.fleet);
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

JobRow rowOf(const scheduler::JobRecord& job, const std::string& account) {
  JobRow row;
  row.id = job.id;
  row.account = account;
  row.status = job.status;
  row.type = job.facts.type;
  row.pdf_name = job.facts.pdf_name;
  row.source = job.source;
  row.added_at = job.added_at;
  if (job.polled) row.last_poll = job.last_poll_at;
  return row;
}

// On a lane's thread: its matching rows (the newest filter.newest of them
// when set) and how many matched.
std::pair<std::vector<JobRow>, size_t> matchingRows(PollLane& lane, const JobsFilter& filter) {
  std::vector<JobRow> out;
  if (!filter.account.empty() && filter.account != lane.account()) return {std::move(out), 0};
  const scheduler::PollEngine& engine = lane.engine();
  if (filter.newest == 0) {
    engine.forEachJob([&](const scheduler::JobRecord& job) {
      if (filter.matches(job.status, lane.account())) out.push_back(rowOf(job, lane.account()));
    });
    const size_t matching = out.size();
    return {std::move(out), matching};
  }
  NewestJobs newest(filter, filter.newest);
  engine.forEachJob([&](const scheduler::JobRecord& job) { newest.offer(job, lane.account()); });
  for (const scheduler::JobRecord* job : newest.take()) out.push_back(rowOf(*job, lane.account()));
  return {std::move(out), newest.matching()};
}

}  // namespace

Result<JobsReport> OperatorView::jobs(const JobsFilter& filter) {
  using Rows = std::pair<std::vector<JobRow>, size_t>;
  auto lanes = onEveryLane(std::function<Rows(PollLane&)>(
      [filter](PollLane& lane) { return matchingRows(lane, filter); }));
  if (!lanes) return schedulerSilent();
  JobsReport r;
  r.live = true;
  r.now = p_.clock.wallNow();
  for (Rows& lane : *lanes) {
    r.matching += lane.second;
    std::move(lane.first.begin(), lane.first.end(), std::back_inserter(r.jobs));
  }
  if (filter.newest > 0 && r.jobs.size() > filter.newest) {
    // Each lane's newest; of them, the newest overall.
    std::sort(r.jobs.begin(), r.jobs.end(), [](const JobRow& a, const JobRow& b) {
      return a.added_at != b.added_at ? a.added_at > b.added_at : a.id < b.id;
    });
    r.jobs.resize(filter.newest);
  }
  std::sort(r.jobs.begin(), r.jobs.end(),
            [](const JobRow& a, const JobRow& b) { return a.id < b.id; });
  return r;
}

Result<std::optional<JobDetail>> OperatorView::job(const std::string& id) {
  if (p_.reader == nullptr) return noReader();
  using Found = std::optional<std::pair<scheduler::JobRecord, std::string>>;
  auto lanes = onEveryLane(std::function<Found(PollLane&)>([id](PollLane& lane) -> Found {
    const scheduler::JobRecord* job = lane.engine().find(id);
    if (job == nullptr) return std::nullopt;
    return std::make_pair(*job, lane.account());
  }));
  if (!lanes) return schedulerSilent();
  const auto found = std::find_if(lanes->begin(), lanes->end(),
                                  [](const Found& lane) { return lane.has_value(); });
  if (found == lanes->end()) {
    // Not watched (any more): what the store still knows, if anything.
    auto stored = jobFromStore(*p_.reader, id, p_.clock.wallNow());
    if (!stored) return stored.error();
    std::optional<JobDetail> detail = std::move(stored).value();
    if (detail) detail->live = true;
    return detail;
  }
  const scheduler::JobRecord& record = (*found)->first;
  JobDetail d;
  d.live = true;
  d.now = p_.clock.wallNow();
  d.job = record;
  d.account = (*found)->second;
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
  using Names = std::vector<std::string>;
  auto lanes = onEveryLane(std::function<Names(PollLane&)>([ids = std::move(ids)](PollLane& lane) {
    Names pdf_names;
    for (const auto& id : ids) {
      const scheduler::JobRecord* job = lane.engine().find(id);
      pdf_names.push_back(job != nullptr ? job->facts.pdf_name : std::string());
    }
    return pdf_names;
  }));
  if (lanes) {
    for (Names& lane : *lanes) {
      for (size_t i = 0; i < out.size() && i < lane.size(); ++i) {
        if (!lane[i].empty()) out[i].pdf_name = std::move(lane[i]);
      }
    }
  }
  return out;
}

Result<std::vector<state::HookRun>> OperatorView::retry(const std::vector<std::string>& events) {
  auto requeued = p_.store.retryFailedRuns(events);
  if (requeued && !requeued->empty()) p_.runner.wake();
  return requeued;
}

namespace {

// Each ID's outcome from the lane that has the job (the first that does
// not say "not watched"), in the order asked. In a fleet this instance
// holds only some jobs: one it does not may be another instance's.
std::vector<JobOutcome> mergeOutcomes(const std::vector<std::string>& ids,
                                      std::vector<std::vector<JobOutcome>> lanes,
                                      const std::string& not_watched, bool fleet) {
  std::vector<JobOutcome> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    JobOutcome merged{
        ids[i], false,
        fleet ? not_watched + " here (another instance of the fleet may hold it)" : not_watched};
    for (auto& lane : lanes) {
      if (i < lane.size() && lane[i].what != not_watched) merged = std::move(lane[i]);
    }
    out.push_back(std::move(merged));
  }
  return out;
}

const std::string kNotWatched = "not watched";

std::string pollNowText(scheduler::PollEngine::PollNow outcome) {
  using PN = scheduler::PollEngine::PollNow;
  switch (outcome) {
    case PN::kQueued:
      return "due now (polled as the budget allows)";
    case PN::kInFlight:
      return "a poll is already in flight";
    case PN::kTerminal:
      return "finished; never polled again";
    case PN::kNotWatched:
      break;
  }
  return kNotWatched;
}

std::string forgetText(scheduler::Roster::ForgetOutcome outcome) {
  using FO = scheduler::Roster::ForgetOutcome;
  switch (outcome) {
    case FO::kForgotten:
      return "forgotten";
    case FO::kInWatchFile:
      return "listed in the watch file: remove it there to stop watching it";
    case FO::kNotWatched:
      break;
  }
  return kNotWatched;
}

}  // namespace

Result<std::vector<JobOutcome>> OperatorView::pollNow(const std::vector<std::string>& ids) {
  using Outcomes = std::vector<JobOutcome>;
  auto lanes = onEveryLane(std::function<Outcomes(PollLane&)>([ids](PollLane& lane) {
    Outcomes outcomes;
    for (const auto& id : ids) {
      const auto outcome = lane.engine().pollNow(id);
      using PN = scheduler::PollEngine::PollNow;
      const bool done = outcome == PN::kQueued || outcome == PN::kInFlight;
      outcomes.push_back({id, done, pollNowText(outcome)});
    }
    return outcomes;
  }));
  if (!lanes) return schedulerSilent();
  return mergeOutcomes(ids, std::move(*lanes), kNotWatched, p_.fleet != nullptr);
}

Result<std::vector<JobOutcome>> OperatorView::forget(const std::vector<std::string>& ids) {
  using Outcomes = std::vector<JobOutcome>;
  auto lanes = onEveryLane(std::function<Outcomes(PollLane&)>([ids](PollLane& lane) {
    Outcomes outcomes;
    for (const auto& id : ids) {
      const auto outcome = lane.roster().forgetDropped(id);
      outcomes.push_back(
          {id, outcome == scheduler::Roster::ForgetOutcome::kForgotten, forgetText(outcome)});
    }
    return outcomes;
  }));
  if (!lanes) return schedulerSilent();
  // Committed before the answer, like every operator change.
  if (!p_.writer.flush(kSchedulerWait)) {
    return Error{"the state database has not yet committed the forgetting (it is retried)",
                 ErrorKind::kRuntime};
  }
  return mergeOutcomes(ids, std::move(*lanes), kNotWatched, p_.fleet != nullptr);
}

}  // namespace jobwatch::app
