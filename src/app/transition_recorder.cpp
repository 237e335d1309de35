// SPDX-License-Identifier: Apache-2.0
#include "app/transition_recorder.h"

#include <optional>

#include "hooks/hook_matcher.h"
#include "scheduler/roster.h"

namespace jobwatch::app {

bool TransitionRecorder::wantsResult(const std::string& hook) const {
  for (const auto& definition : hooks_) {
    if (definition.name == hook) return definition.with_result;
  }
  return false;
}

void TransitionRecorder::onTransition(const scheduler::StatusTransition& t) {
  state::WriteBatch batch;
  batch.jobs.push_back(scheduler::toStoredJob(t.job, t.body));
  batch.jobs.back().account = account_;
  batch.transitions.push_back({t.job.id, t.from, t.to, t.at, t.job.facts.updated_at});
  bool result_wanted = false;
  for (const std::string& hook : hooks::matchingHooks(hooks_, t.to, t.job.facts.type)) {
    state::HookRun run;
    run.job_id = t.job.id;
    run.status = t.to;
    run.hook = hook;
    run.previous_status = t.from;
    run.facts = t.job.facts;
    run.labels = t.job.labels;
    run.body = std::string(t.body);
    run.not_before = t.at;
    // Only a completed job has a result; a with_result hook on another
    // status runs at once and is told (JOBWATCH_RESULT_ERROR) there is none.
    run.with_result = wantsResult(hook);
    run.account = account_;
    result_wanted = result_wanted || (run.with_result && t.to == status::kCompleted);
    batch.new_runs.push_back(std::move(run));
  }
  std::optional<state::ResultRecord> wanted;
  if (result_wanted) {
    wanted.emplace();
    wanted->job_id = t.job.id;
    wanted->since = t.at;
    wanted->next_try = t.at;
    wanted->account = account_;
    batch.results.push_back(*wanted);
  }
  writer_.enqueue(std::move(batch));
  if (wanted && want_result_) want_result_(*wanted);
}

void TransitionRecorder::onResultUpdate(const scheduler::ResultUpdate& update) {
  state::WriteBatch batch;
  batch.results.push_back(update.record);
  writer_.enqueue(std::move(batch));
}

void TransitionRecorder::onOverdue(const scheduler::JobRecord& job) {
  static const std::string kOverdue = "overdue";
  state::WriteBatch batch;
  batch.jobs.push_back(scheduler::toStoredJob(job, {}));
  batch.jobs.back().account = account_;
  for (const std::string& hook : hooks::matchingHooks(hooks_, kOverdue, job.facts.type)) {
    state::HookRun run;
    run.job_id = job.id;
    run.status = kOverdue;
    run.hook = hook;
    run.previous_status = job.status;
    run.facts = job.facts;
    run.labels = job.labels;
    run.account = account_;
    batch.new_runs.push_back(std::move(run));
  }
  writer_.enqueue(std::move(batch));
}

}  // namespace jobwatch::app
