#include "app/transition_recorder.h"

#include "hooks/hook_matcher.h"

namespace jobwatch::app {

state::StoredJob toStoredJob(const scheduler::JobRecord& job, std::string_view body) {
  state::StoredJob s{static_cast<const status::Job&>(job)};
  s.last_body = std::string(body);
  s.consecutive_errors = job.consecutive_errors;
  return s;
}

scheduler::JobRecord toJobRecord(const state::StoredJob& s) {
  scheduler::JobRecord job{static_cast<const status::Job&>(s)};
  job.consecutive_errors = s.consecutive_errors;
  return job;
}

void TransitionRecorder::onTransition(const scheduler::StatusTransition& t) {
  state::WriteBatch batch;
  batch.jobs.push_back(toStoredJob(t.job, t.body));
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

}  // namespace jobwatch::app
