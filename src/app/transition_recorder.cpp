// SPDX-License-Identifier: Apache-2.0
#include "app/transition_recorder.h"

#include "hooks/hook_matcher.h"
#include "scheduler/roster.h"

namespace jobwatch::app {

void TransitionRecorder::onTransition(const scheduler::StatusTransition& t) {
  state::WriteBatch batch;
  batch.jobs.push_back(scheduler::toStoredJob(t.job, t.body));
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
    batch.new_runs.push_back(std::move(run));
  }
  writer_.enqueue(std::move(batch));
}

void TransitionRecorder::onOverdue(const scheduler::JobRecord& job) {
  static const std::string kOverdue = "overdue";
  state::WriteBatch batch;
  batch.jobs.push_back(scheduler::toStoredJob(job, {}));
  for (const std::string& hook : hooks::matchingHooks(hooks_, kOverdue, job.facts.type)) {
    state::HookRun run;
    run.job_id = job.id;
    run.status = kOverdue;
    run.hook = hook;
    run.previous_status = job.status;
    run.facts = job.facts;
    run.labels = job.labels;
    batch.new_runs.push_back(std::move(run));
  }
  writer_.enqueue(std::move(batch));
}

}  // namespace jobwatch::app
