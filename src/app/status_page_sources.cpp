// SPDX-License-Identifier: Apache-2.0
#include "app/status_page_sources.h"

namespace jobwatch::app {

JobsSnapshot snapshotJobs(const scheduler::PollEngine& engine, const PageQuery& query, size_t cap) {
  JobsSnapshot out;
  out.status_counts = engine.statusCounts();
  out.job_count = engine.jobCount();
  JobTableBuilder table(query, cap);
  engine.forEachJob([&table](const scheduler::JobRecord& job) { table.offer(job); });
  out.matching = table.matching();
  out.rows = table.take();
  return out;
}

void readHookLedger(state::StateStore& store, size_t failed_limit, StatusPageModel& model) {
  std::string problem;
  auto count = [&](state::HookRunState state) -> std::optional<size_t> {
    auto n = store.countRuns(state);
    if (n.ok()) return n.value();
    problem = n.error().message;
    return std::nullopt;
  };
  model.hooks_pending = count(state::HookRunState::kPending);
  model.hooks_running = count(state::HookRunState::kRunning);
  model.hooks_failed = count(state::HookRunState::kFailed);
  auto failed = store.recentRuns(state::HookRunState::kFailed, failed_limit);
  if (failed.ok()) {
    for (const state::HookRun& run : failed.value()) {
      model.failed_hooks.push_back(
          {run.run_id, run.job_id, run.hook, run.status, run.attempts, run.last_error});
    }
  } else {
    problem = failed.error().message;
  }
  if (!problem.empty()) model.notes.push_back("the hook ledger could not be read: " + problem);
}

}  // namespace jobwatch::app
