// SPDX-License-Identifier: Apache-2.0
// PollEngine's result fetches (SPEC "Results"; see poll_engine.h).
#include <algorithm>

#include "api/poll_result.h"
#include "scheduler/poll_engine.h"

namespace jobwatch::scheduler {

using namespace std::chrono_literals;
using api::ResultFetchKind;

namespace {

SteadyTime::duration untilWall(WallTime when, WallTime wall_now) {
  const auto left = std::chrono::duration_cast<SteadyTime::duration>(when - wall_now);
  return std::max(left, SteadyTime::duration::zero());
}

}  // namespace

void PollEngine::setResults(const api::ResultDir* dir, Millis give_up_after) {
  result_dir_ = dir;
  result_give_up_after_ = give_up_after;
}

void PollEngine::fetchResult(state::ResultRecord record) {
  if (auto it = results_.find(record.job_id); it != results_.end()) {
    ResultTask& task = it->second;
    if (task.dropped) {
      // Dropped (a release) while its fetch was in flight, and wanted again
      // (a quick re-adopt): that fetch is its fetch again, settled as usual.
      task.dropped = false;
      task.record = std::move(record);
      task.record.state = state::ResultState::kPending;
    }
    return;
  }
  const SteadyTime due = clock_.now() + untilWall(record.next_try, clock_.wallNow());
  std::string id = record.job_id;
  ResultTask& task = results_[id];
  task.record = std::move(record);
  task.record.state = state::ResultState::kPending;
  queueResult(task, due);
}

void PollEngine::dropResult(const std::string& job_id) {
  auto it = results_.find(job_id);
  if (it == results_.end()) return;
  if (it->second.file) {
    it->second.dropped = true;  // the transport still writes into its file
    return;
  }
  results_.erase(it);
}

void PollEngine::forgetResult(const std::string& job_id) {
  dropResult(job_id);
  if (result_dir_ == nullptr) return;
  if (auto removed = result_dir_->remove(job_id); !removed) {
    log_.warn("cannot delete a forgotten job's result",
              {{"job_id", job_id}, {"error", removed.error().message}});
  }
}

void PollEngine::queueResult(ResultTask& task, SteadyTime due) {
  task.seq = ++result_seq_;
  result_due_.push({due, task.seq, task.record.job_id});
}

bool PollEngine::startDueResults(SteadyTime now, SteadyTime& wake) {
  while (!stopping_ && !single_pass_ && !result_due_.empty()) {
    const ResultDue& top = result_due_.top();
    auto it = results_.find(top.job_id);
    if (it == results_.end() || it->second.seq != top.seq || it->second.file) {
      result_due_.pop();  // stale: settled, dropped, requeued or in flight
      continue;
    }
    if (top.due > now) {
      wake = std::min(wake, top.due);
      return true;
    }
    ResultTask& task = it->second;
    if (result_dir_ == nullptr || clock_.wallNow() >= task.record.since + result_give_up_after_) {
      result_due_.pop();
      std::string why = result_dir_ == nullptr ? "results are not configured"
                        : task.record.error.empty()
                            ? "no result within results.give_up_after"
                            : "gave up after results.give_up_after: " + task.record.error;
      settleResult(task, state::ResultState::kGaveUp, std::move(why), std::nullopt, 0, 0us);
      continue;
    }
    if (!takeRequestSlot(now, wake)) return false;
    result_due_.pop();
    startResult(task);
  }
  return true;
}

void PollEngine::startResult(ResultTask& task) {
  auto file = result_dir_->create(task.record.job_id);
  if (!file) {
    // Nothing was sent: the slot goes back to the account's budget, and
    // no request is counted (the failure is, as a write_error).
    budget_->giveBack();
    api::ResultFetchOutcome outcome;
    outcome.kind = ResultFetchKind::kWriteError;
    outcome.detail = file.error().message;
    ++task.record.attempts;
    resultFailed(task, outcome, 0us, false);
    return;
  }
  task.file = std::move(file).value();
  task.seq = ++result_seq_;
  result_tags_[task.seq] = task.record.job_id;
  ++in_flight_;
  api::HttpRequest request;
  request.tag = kResultTagBit | task.seq;
  request.url = api::resultUrl(settings_.base_url, task.record.job_id);
  request.sink = task.file.get();
  request.max_streamed_bytes = result_dir_->maxSize();
  transport_.start(std::move(request));
}

void PollEngine::handleResult(const api::HttpResponse& response) {
  if (in_flight_ > 0) --in_flight_;
  const std::uint64_t seq = response.tag & ~kResultTagBit;
  auto tag = result_tags_.find(seq);
  if (tag == result_tags_.end()) return;
  auto it = results_.find(tag->second);
  result_tags_.erase(tag);
  if (it == results_.end() || it->second.seq != seq || !it->second.file) return;
  ResultTask& task = it->second;
  if (task.dropped) {
    results_.erase(it);  // the file's destructor removes the temporary file
    return;
  }
  ++task.record.attempts;
  api::ResultFetchOutcome outcome = api::classifyResultResponse(response, *task.file);
  if (outcome.kind == ResultFetchKind::kOk && !task.file->commit()) {
    outcome = api::classifyCommitFailure(*task.file);
  }
  if (outcome.kind == ResultFetchKind::kOk) {
    log_.info("result fetched", {{"job_id", task.record.job_id},
                                 {"bytes", std::to_string(task.file->bytes())},
                                 {"file", task.file->finalPath().string()}});
    std::string path = task.file->finalPath().string();
    task.file.reset();
    settleResult(task, state::ResultState::kDone, std::move(path), outcome.kind,
                 outcome.http_status, response.elapsed);
    return;
  }
  task.file.reset();  // removes the temporary file
  resultFailed(task, outcome, response.elapsed);
}

void PollEngine::resultFailed(ResultTask& task, const api::ResultFetchOutcome& outcome,
                              std::chrono::microseconds elapsed, bool sent) {
  task.record.error = outcome.detail;
  const std::string label(api::resultFetchLabel(outcome.kind));
  if (outcome.kind == ResultFetchKind::kTooLarge) {
    settleResult(task, state::ResultState::kGaveUp, outcome.detail, outcome.kind,
                 outcome.http_status, elapsed);
    return;
  }
  const SteadyTime now = clock_.now();
  SteadyTime next = now;
  switch (outcome.kind) {
    case ResultFetchKind::kRateLimited:
      next = notePause(outcome.retry_after, outcome.http_status, now);
      break;
    case ResultFetchKind::kNotReady:
      next = now + jitteredInterval(settings_.interval, settings_.jitter, rng_);
      break;
    default:
      ++task.failures;
      next = now + backoffDelay(task.failures, settings_.interval, settings_.backoff_max, rng_);
      break;
  }
  // Never later than the moment it is to be given up.
  const SteadyTime give_up =
      now + untilWall(task.record.since + result_give_up_after_, clock_.wallNow());
  next = std::min(next, give_up);
  const bool disk = outcome.kind == ResultFetchKind::kWriteError;
  log_.write(disk || task.failures == 1 ? LogLevel::kWarn : LogLevel::kDebug,
             disk ? "result could not be written; retrying, its hooks wait"
                  : "result fetch failed; retrying",
             {{"job_id", task.record.job_id}, {"result", label}, {"detail", outcome.detail}});
  task.record.next_try =
      clock_.wallNow() + std::chrono::duration_cast<WallTime::duration>(next - now);
  events_.onResultUpdate(
      {task.record, outcome.kind, outcome.http_status, elapsed, outcome.detail, sent});
  queueResult(task, next);
}

void PollEngine::settleResult(ResultTask& task, state::ResultState state, std::string file_or_error,
                              std::optional<ResultFetchKind> fetch, long http_status,
                              std::chrono::microseconds elapsed) {
  state::ResultRecord& record = task.record;
  record.state = state;
  record.next_try = clock_.wallNow();
  if (state == state::ResultState::kDone) {
    record.file = std::move(file_or_error);
    record.error.clear();
  } else {
    record.error = std::move(file_or_error);
    log_.warn("result given up; hooks that want it run without it",
              {{"job_id", record.job_id}, {"reason", record.error}});
  }
  events_.onResultUpdate({record, fetch, http_status, elapsed,
                          state == state::ResultState::kDone ? std::string_view() : record.error});
  const std::string id = record.job_id;  // the key outlives the entry it erases
  results_.erase(id);
}

}  // namespace jobwatch::scheduler
