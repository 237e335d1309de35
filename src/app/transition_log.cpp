// SPDX-License-Identifier: Apache-2.0
#include "app/transition_log.h"

#include "status/job_status.h"
#include "util/duration.h"

namespace jobwatch::app {

void TransitionLog::onPollFinished(const scheduler::PollFinished& poll) {
  if (!log_.enabled(LogLevel::kTrace)) return;
  log_.trace("poll", {{"job_id", poll.job.id},
                      {"result", std::string(api::resultLabel(poll.result))},
                      {"http_status", std::to_string(poll.http_status)},
                      {"elapsed_ms", std::to_string(poll.elapsed.count() / 1000)}});
}

void TransitionLog::onTransition(const scheduler::StatusTransition& t) {
  const auto& job = t.job;
  LogFields fields = {{"job_id", job.id},
                      {"type", job.facts.type},
                      {"pdf_name", job.facts.pdf_name},
                      {"from", t.from},
                      {"to", t.to},
                      {"since_added", formatDuration(t.since_added)}};
  if (account_ != "default") fields.push_back({"account", account_});
  if (!job.facts.status_raw.empty() && status::toLower(job.facts.status_raw) != t.to &&
      t.to != status::kNotFound && t.to != status::kTimedOut) {
    fields.push_back({"api_status", job.facts.status_raw});
  }
  if (!job.facts.error.empty()) fields.push_back({"error", job.facts.error});
  const bool bad =
      t.to == status::kFailed || t.to == status::kNotFound || t.to == status::kTimedOut;
  log_.write(bad ? LogLevel::kWarn : LogLevel::kInfo,
             t.from == status::kUnknown ? "job seen" : "status change", fields);
}

}  // namespace jobwatch::app
