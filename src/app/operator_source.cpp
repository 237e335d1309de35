// SPDX-License-Identifier: Apache-2.0
#include "app/operator_source.h"

#include <algorithm>

#include "app/version.h"

namespace jobwatch::app {

std::string_view sourceName(status::JobSource source) {
  return source == status::JobSource::kDropDir ? "drop_dir" : "watch_file";
}

std::string_view runStateName(state::HookRunState s) {
  switch (s) {
    case state::HookRunState::kPending:
      return "pending";
    case state::HookRunState::kRunning:
      return "running";
    case state::HookRunState::kSucceeded:
      return "succeeded";
    case state::HookRunState::kFailed:
      return "failed";
  }
  return "unknown";
}

bool JobsFilter::matches(const std::string& status, const std::string& account_name) const {
  if (!account.empty() && account != account_name) return false;
  return statuses.empty() || std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

Result<HookCounts> hookCountsFromStore(state::StateReader& reader) {
  HookCounts counts;
  const std::pair<state::HookRunState, size_t*> wanted[] = {
      {state::HookRunState::kPending, &counts.pending},
      {state::HookRunState::kRunning, &counts.running},
      {state::HookRunState::kFailed, &counts.failed}};
  for (const auto& [s, out] : wanted) {
    auto n = reader.countRuns(s);
    if (!n) return n.error();
    *out = *n;
  }
  return counts;
}

Result<StatusReport> statusFromStore(state::StateReader& reader) {
  StatusReport report;
  report.version = kVersion;
  auto jobs = reader.jobs();
  if (!jobs) return jobs.error();
  for (const auto& job : *jobs) ++report.jobs_by_status[job.status];
  report.jobs = jobs->size();
  auto hooks = hookCountsFromStore(reader);
  if (!hooks) return hooks.error();
  report.hooks = *hooks;
  auto fleet = reader.fleet();
  if (!fleet) return fleet.error();
  if (*fleet) {
    report.fleet = true;
    for (const state::FleetMember& m : **fleet) {
      report.instances.push_back({m.instance, m.jobs_held, m.started, m.heartbeat, false});
    }
  }
  return report;
}

Result<JobsReport> jobsFromStore(state::StateReader& reader, const JobsFilter& filter,
                                 WallTime now) {
  JobsReport report;
  report.now = now;
  auto jobs = reader.jobs();
  if (!jobs) return jobs.error();
  for (const auto& job : *jobs) {
    JobRow row;
    row.id = job.id;
    row.account = job.account;
    row.status = job.status;
    if (!filter.matches(row.status, row.account)) continue;
    row.type = job.facts.type;
    row.pdf_name = job.facts.pdf_name;
    row.source = job.source;
    row.added_at = job.added_at;
    report.jobs.push_back(std::move(row));
  }
  std::sort(report.jobs.begin(), report.jobs.end(),
            [](const JobRow& a, const JobRow& b) { return a.id < b.id; });
  report.matching = report.jobs.size();
  return report;
}

Status addHistory(state::StateReader& reader, JobDetail& detail) {
  auto transitions = reader.transitions(detail.job.id);
  if (!transitions) return transitions.error();
  detail.transitions = std::move(transitions).value();
  auto attempts = reader.attempts(detail.job.id);
  if (!attempts) return attempts.error();
  detail.attempts = std::move(attempts).value();
  auto runs = reader.runsForJob(detail.job.id);
  if (!runs) return runs.error();
  detail.runs = std::move(runs).value();
  for (auto& run : detail.runs) run.body.clear();  // the job's own body is shown once
  return Ok{};
}

Result<std::optional<JobDetail>> jobFromStore(state::StateReader& reader, const std::string& id,
                                              WallTime now) {
  auto jobs = reader.jobs();
  if (!jobs) return jobs.error();
  auto it = std::find_if(jobs->begin(), jobs->end(),
                         [&](const state::StoredJob& j) { return j.id == id; });
  if (it == jobs->end()) return std::optional<JobDetail>();
  JobDetail detail;
  detail.now = now;
  detail.job = *it;
  detail.account = it->account;
  detail.consecutive_errors = it->consecutive_errors;
  if (auto added = addHistory(reader, detail); !added) return added.error();
  return std::optional<JobDetail>(std::move(detail));
}

Result<HooksReport> hooksFromStore(state::StateReader& reader, bool failed_only, WallTime now,
                                   size_t limit) {
  HooksReport report;
  report.now = now;
  std::vector<state::HookRunState> states = {state::HookRunState::kFailed};
  if (!failed_only) {
    states = {state::HookRunState::kPending, state::HookRunState::kRunning,
              state::HookRunState::kFailed};
  }
  for (auto s : states) {
    auto read = reader.runsInState(s, limit + 1);
    if (!read) return read.error();
    std::vector<state::HookRun> runs = std::move(read).value();
    if (runs.size() > limit) {
      report.truncated = true;
      runs.resize(limit);
    }
    for (auto& run : runs) {
      run.body.clear();
      report.runs.push_back(std::move(run));
    }
  }
  return report;
}

bool NewestJobs::Newer::operator()(const scheduler::JobRecord* a,
                                   const scheduler::JobRecord* b) const {
  if (a->added_at != b->added_at) return a->added_at > b->added_at;
  return a->id < b->id;
}

void NewestJobs::offer(const scheduler::JobRecord& job, const std::string& account) {
  if (!filter_.matches(job.status, account)) return;
  ++matching_;
  if (cap_ == 0) return;
  if (kept_.size() < cap_) {
    kept_.push(&job);
  } else if (Newer{}(&job, kept_.top())) {
    kept_.pop();
    kept_.push(&job);
  }
}

std::vector<const scheduler::JobRecord*> NewestJobs::take() {
  std::vector<const scheduler::JobRecord*> rows;
  rows.reserve(kept_.size());
  while (!kept_.empty()) {
    rows.push_back(kept_.top());
    kept_.pop();
  }
  std::reverse(rows.begin(), rows.end());  // popped oldest first
  return rows;
}

}  // namespace jobwatch::app
