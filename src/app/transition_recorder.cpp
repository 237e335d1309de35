#include "app/transition_recorder.h"

#include "hooks/hook_matcher.h"

namespace jobwatch::app {

state::StoredJob toStoredJob(const scheduler::JobRecord& job, std::string_view body) {
  state::StoredJob s;
  s.id = job.id;
  s.source = job.from_watch_file ? state::JobSource::kWatchFile : state::JobSource::kDropDir;
  s.labels = job.labels;
  s.status = job.status;
  s.terminal = job.terminal;
  s.status_raw = job.status_raw;
  s.type = job.type;
  s.pdf_name = job.pdf_name;
  s.pdf_hash = job.pdf_hash;
  s.error = job.error;
  s.created_at = job.created_at;
  s.updated_at = job.updated_at;
  s.last_body = std::string(body);
  s.added_at = job.added_at;
  s.consecutive_errors = job.consecutive_errors;
  return s;
}

scheduler::JobRecord toJobRecord(const state::StoredJob& s) {
  scheduler::JobRecord job;
  job.id = s.id;
  job.from_watch_file = s.source == state::JobSource::kWatchFile;
  job.labels = s.labels;
  job.status = s.status;
  job.terminal = s.terminal;
  job.status_raw = s.status_raw;
  job.type = s.type;
  job.pdf_name = s.pdf_name;
  job.pdf_hash = s.pdf_hash;
  job.error = s.error;
  job.created_at = s.created_at;
  job.updated_at = s.updated_at;
  job.added_at = s.added_at;
  job.consecutive_errors = s.consecutive_errors;
  return job;
}

void TransitionRecorder::onTransition(const scheduler::StatusTransition& t) {
  state::WriteBatch batch;
  batch.jobs.push_back(toStoredJob(t.job, t.body));
  if (t.job.terminal) batch.jobs.back().terminal_at = t.at;
  for (const std::string& hook : hooks::matchingHooks(hooks_, t.to, t.job.type)) {
    state::HookRun run;
    run.job_id = t.job.id;
    run.status = t.to;
    run.hook = hook;
    run.previous_status = t.from;
    run.status_raw = t.job.status_raw;
    run.type = t.job.type;
    run.pdf_name = t.job.pdf_name;
    run.pdf_hash = t.job.pdf_hash;
    run.error = t.job.error;
    run.created_at = t.job.created_at;
    run.updated_at = t.job.updated_at;
    run.labels = t.job.labels;
    run.body = std::string(t.body);
    run.not_before = t.at;
    batch.new_runs.push_back(std::move(run));
  }
  writer_.enqueue(std::move(batch));
}

}  // namespace jobwatch::app
