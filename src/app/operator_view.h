// SPDX-License-Identifier: Apache-2.0
// OperatorView: the running daemon's answers to the operator's commands
// (status, jobs, show, hooks) and the changes they ask for (retry, poll,
// forget). Live job state comes from the scheduler thread through posted
// commands, each waited for at most kSchedulerWait (a wedged scheduler
// makes `status` say so, never hangs it); history and the hook ledger come
// from a read-only StateReader of its own, so a read never waits for the
// state writer; retry writes through the store (committed before it
// answers) and wakes the hook runner.
//
// The status page (metrics listener, GET /) builds on the same reports
// (status_page_sources.h paces its reads).
//
// Thread-safety: every method may be called from any thread but the
// scheduler's (the control server calls them on its own).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/operator_report.h"
#include "util/clock.h"
#include "util/result.h"

namespace jobwatch::state {
class StateReader;
class StateWriter;
}  // namespace jobwatch::state
namespace jobwatch::hooks {
class HookRunner;
}

namespace jobwatch::app {

class FleetKeeper;

class MetricsFeed;
class PollLane;
class SchedulerPool;

struct OperatorParts {
  SchedulerPool& pool;  // each lane's engine, roster and feed: its thread only
  state::StateStore& store;
  state::StateReader* reader;  // null: history and ledger unavailable
  state::StateWriter& writer;
  hooks::HookRunner& runner;
  const MetricsFeed& metrics_feed;
  const Clock& clock;
  const FleetKeeper* fleet = nullptr;  // state.backend postgresql only
};

// What a `poll` or `forget` did with one job ID.
struct JobOutcome {
  std::string id;
  bool done = false;
  std::string what;  // "queued", "forgotten", or why not
};

class OperatorView {
 public:
  static constexpr std::chrono::milliseconds kSchedulerWait{2000};

  explicit OperatorView(OperatorParts parts);

  StatusReport status();
  // Errors: the scheduler did not answer in time, or the store failed.
  Result<JobsReport> jobs(const JobsFilter& filter);
  Result<std::optional<JobDetail>> job(const std::string& id);
  // At most `limit` runs per state.
  Result<HooksReport> hooks(bool failed_only, size_t limit = kMaxHookRows);
  // The newest transitions of all jobs, newest first (the status page).
  // With `names`, the PDF names of the jobs still watched are looked up on
  // the scheduler (left empty if it does not answer in time).
  Result<std::vector<RecentTransition>> recentTransitions(size_t limit = kRecentTransitions,
                                                          bool names = true);
  // Failed runs of these events (all when empty) pending again, committed.
  Result<std::vector<state::HookRun>> retry(const std::vector<std::string>& event_ids);
  Result<std::vector<JobOutcome>> pollNow(const std::vector<std::string>& ids);
  Result<std::vector<JobOutcome>> forget(const std::vector<std::string>& ids);

  // Whether the running configuration has this account. Any thread.
  bool knowsAccount(const std::string& name) const;

  // When this view (the running scheduler) started. Any thread.
  WallTime startedAt() const { return started_at_; }

  // For `status`: the last reload.
  void reloaded(bool ok);

 private:
  // `fn` on every lane's thread; nullopt unless every lane answered in time.
  template <typename T>
  std::optional<std::vector<T>> onEveryLane(const std::function<T(PollLane&)>& fn);

  OperatorParts p_;
  const SteadyTime started_;
  const WallTime started_at_;
  std::mutex mu_;
  std::optional<WallTime> last_reload_;  // guarded by mu_
  bool last_reload_ok_ = true;           // guarded by mu_
};

}  // namespace jobwatch::app
