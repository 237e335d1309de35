// SPDX-License-Identifier: Apache-2.0
#include "state/state_writer.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <string>
#include <utility>

#include "util/current_exception.h"

namespace jobwatch::state {
namespace {

using SteadyClock = std::chrono::steady_clock;

size_t rowsIn(const WriteBatch& batch) {
  return batch.jobs.size() + batch.new_runs.size() + batch.removed.size() + batch.forgotten.size() +
         batch.results.size() + batch.transitions.size() + batch.registered.size();
}

}  // namespace

StateWriter::StateWriter(StateStore& store, Log& log, const Clock& clock,
                         std::function<void()> on_runs_committed)
    : store_(store), log_(log), clock_(clock), on_runs_committed_(std::move(on_runs_committed)) {}

StateWriter::~StateWriter() { stop(kDestructorStopTimeout); }

void StateWriter::start() {
  if (thread_.joinable()) return;
  std::lock_guard lock(mu_);
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
}

bool StateWriter::stop(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::uint64_t target = 0;
  {
    std::lock_guard lock(mu_);
    stop_deadline_ = deadline;
    target = enqueued_seq_;
  }
  const bool threaded = thread_.joinable();
  if (threaded) {
    thread_.request_stop();  // wakes the thread; it drains until the deadline
    thread_.join();
  }
  std::unique_lock lock(mu_);
  // Without a thread, or with writes it left (it failed, or they came after
  // its final commit): commit here.
  if (!threaded || (!queued_.empty() && SteadyClock::now() < deadline)) {
    try {
      drain(lock, deadline);
    } catch (const std::exception& e) {
      if (!lock.owns_lock()) lock.lock();
      log_.error("state writes could not be committed at stop: unexpected error",
                 {{"path", store_.path().string()}, {"error", e.what()}});
    }
  }
  if (!lock.owns_lock()) lock.lock();
  return committed_seq_ >= target;
}

void StateWriter::enqueue(WriteBatch batch) {
  if (batch.empty()) return;
  std::lock_guard lock(mu_);
  append(std::move(batch));
  ++enqueued_seq_;
  cv_.notify_all();
}

void StateWriter::append(WriteBatch batch) {
  const size_t here = queued_.size();
  WriteBatch kept;
  kept.new_runs = std::move(batch.new_runs);
  kept.transitions = std::move(batch.transitions);
  kept.forgotten = std::move(batch.forgotten);
  kept.removed = std::move(batch.removed);
  kept.results = std::move(batch.results);
  kept.registered = std::move(batch.registered);  // insert-if-absent rows: never merged
  for (StoredJob& job : batch.jobs) {
    auto it = open_jobs_.find(job.id);
    if (it == open_jobs_.end()) {
      kept.jobs.push_back(std::move(job));
      open_jobs_.emplace(kept.jobs.back().id, JobSlot{here, kept.jobs.size() - 1});
      continue;
    }
    const JobSlot slot = it->second;
    StoredJob& older =
        slot.batch == here ? kept.jobs[slot.index] : queued_[slot.batch].jobs[slot.index];
    if (job.last_body.empty()) job.last_body = std::move(older.last_body);
    job.account = std::move(older.account);  // the first binding stays, as in the store
    older = std::move(job);
    ++merged_rows_;
  }
  // Ledger rows are barriers: a later job row must be applied after them.
  for (const HookRun& run : kept.new_runs) open_jobs_.erase(run.job_id);
  for (const std::string& id : kept.forgotten) open_jobs_.erase(id);
  for (const std::string& id : kept.removed) open_jobs_.erase(id);
  if (kept.empty()) return;
  queued_rows_ += rowsIn(kept);
  queued_.push_back(std::move(kept));
}

bool StateWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const std::uint64_t target = enqueued_seq_;
  // A writer whose thread failed commits nothing more: do not wait for it.
  cv_.wait_for(lock, timeout, [&] { return committed_seq_ >= target || failed_; });
  return committed_seq_ >= target;
}

bool StateWriter::hasRoom() const {
  std::lock_guard lock(mu_);
  return queued_rows_ < kRoomRows || failing_;
}

bool StateWriter::failing() const {
  std::lock_guard lock(mu_);
  return failing_;
}

size_t StateWriter::writeFailures() const {
  std::lock_guard lock(mu_);
  return write_failures_;
}

bool StateWriter::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

size_t StateWriter::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

size_t StateWriter::committedRows() const {
  std::lock_guard lock(mu_);
  return committed_rows_;
}

bool StateWriter::idle() const {
  std::lock_guard lock(mu_);
  return queued_.empty() && !committing_;
}

size_t StateWriter::queuedRows() const {
  std::lock_guard lock(mu_);
  return queued_rows_;
}

size_t StateWriter::mergedRows() const {
  std::lock_guard lock(mu_);
  return merged_rows_;
}

void StateWriter::run(std::stop_token stop) {
  std::unique_lock lock(mu_, std::defer_lock);
  try {
    lock.lock();
    auto delay = kFirstRetryDelay;
    for (;;) {
      cv_.wait(lock, stop, [this] { return !queued_.empty(); });
      if (stop.stop_requested()) break;
      if (commitQueued(lock)) {
        delay = kFirstRetryDelay;
        continue;
      }
      // Backoff: new batches do not cut it short (they wait with the rest);
      // stop does.
      cv_.wait_for(lock, stop, delay, [] { return false; });
      delay = std::min(delay * 2, kMaxRetryDelay);
    }
    drain(lock, stop_deadline_);
  } catch (...) {
    const std::string what = currentExceptionText();
    if (!lock.owns_lock()) lock.lock();
    const size_t queued = queued_rows_;
    lock.unlock();
    // Logged before failed() turns true: whoever sees the failure finds
    // its reason in the log.
    log_.error("state writer stopped by an unexpected error; its writes stay queued",
               {{"path", store_.path().string()},
                {"error", what},
                {"queued_rows", std::to_string(queued)}});
    lock.lock();
    failed_ = true;
    cv_.notify_all();
  }
}

void StateWriter::drain(std::unique_lock<std::mutex>& lock, SteadyClock::time_point deadline) {
  auto delay = kFirstRetryDelay;
  while (!queued_.empty()) {
    if (commitQueued(lock)) continue;  // the callback may have queued more
    const auto now = SteadyClock::now();
    if (now >= deadline) break;
    cv_.wait_until(lock, std::min(now + delay, deadline), [] { return false; });
    delay = std::min(delay * 2, kMaxRetryDelay);
  }
  if (queued_.empty()) return;
  const size_t left = queued_rows_;
  lock.unlock();
  log_.error("state writes could not be committed before stop",
             {{"path", store_.path().string()}, {"queued_rows", std::to_string(left)}});
  lock.lock();
}

bool StateWriter::commitQueued(std::unique_lock<std::mutex>& lock) {
  std::vector<WriteBatch> batches;
  batches.swap(queued_);
  open_jobs_.clear();  // new rows go to a new queue
  const size_t rows = queued_rows_;
  queued_rows_ = 0;
  committing_ = true;
  const std::uint64_t seq = enqueued_seq_;
  lock.unlock();

  const bool has_runs = std::any_of(batches.begin(), batches.end(), [](const WriteBatch& b) {
    // A settled result releases the runs waiting for it.
    return !b.new_runs.empty() || !b.results.empty();
  });
  Status status = Ok{};
  try {
    status = store_.apply(batches);
  } catch (...) {
    lock.lock();  // keep the writes for a later attempt (stop, a restart)
    committing_ = false;
    requeue(std::move(batches));
    throw;
  }
  if (status.ok()) {
    std::vector<WriteBatch>().swap(batches);  // freed before idle() can say so
    lock.lock();
    committed(lock, rows, seq, has_runs);
    return true;
  }
  lock.lock();
  committing_ = false;
  requeue(std::move(batches));
  commitFailed(lock, status.error());
  return false;
}

void StateWriter::committed(std::unique_lock<std::mutex>& lock, size_t rows, std::uint64_t seq,
                            bool has_runs) {
  committed_seq_ = std::max(committed_seq_, seq);
  ++commits_;
  committed_rows_ += rows;
  committing_ = false;
  const bool recovered = failing_;
  const size_t failed_attempts = failed_attempts_;
  failing_ = false;
  failed_attempts_ = 0;
  cv_.notify_all();
  lock.unlock();
  if (recovered) {
    log_.info(
        "state writes are committed again",
        {{"path", store_.path().string()}, {"failed_attempts", std::to_string(failed_attempts)}});
  }
  if (has_runs && on_runs_committed_) {
    try {
      on_runs_committed_();
    } catch (const std::exception& e) {
      log_.error("waking the hook runner failed", {{"error", e.what()}});
    }
  }
  lock.lock();
}

void StateWriter::requeue(std::vector<WriteBatch> batches) {
  batches.insert(batches.end(), std::make_move_iterator(queued_.begin()),
                 std::make_move_iterator(queued_.end()));
  queued_.clear();
  open_jobs_.clear();
  queued_rows_ = 0;
  for (WriteBatch& batch : batches) append(std::move(batch));
}

void StateWriter::commitFailed(std::unique_lock<std::mutex>& lock, const Error& error) {
  failing_ = true;
  ++write_failures_;
  ++failed_attempts_;
  cv_.notify_all();
  const SteadyTime now = clock_.now();
  const bool first = failed_attempts_ == 1;
  const bool log_now = first || now - last_failure_log_ >= kFailureLogInterval;
  if (log_now) last_failure_log_ = now;
  const size_t failed_attempts = failed_attempts_;
  const size_t queued = queued_rows_;
  lock.unlock();
  if (log_now) {
    log_.error(first ? "state write failed; keeping the writes and retrying"
                     : "state writes still failing; keeping the writes and retrying",
               {{"error", error.message},
                {"failed_attempts", std::to_string(failed_attempts)},
                {"queued_rows", std::to_string(queued)}});
  }
  lock.lock();
}

}  // namespace jobwatch::state
