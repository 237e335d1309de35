#include "state/state_writer.h"

#include <algorithm>
#include <exception>
#include <iterator>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace jobwatch::state {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Merges batches into one with the same effect when applied: per job only
// the last action counts (an upsert, or a removal), and of several runs for
// one (job, status, hook) only the first (the store keeps the first anyway).
// Keeps a long failure streak from growing the queue without bound when
// the same jobs are written again and again.
WriteBatch compact(std::vector<WriteBatch> batches) {
  struct LastAction {
    bool removed;
    size_t batch;
    size_t index;
  };
  std::unordered_map<std::string, LastAction> last;
  std::vector<std::string> order;  // first appearance, for a stable result
  std::unordered_set<std::string> run_keys;
  WriteBatch merged;
  const auto note = [&](const std::string& id, LastAction action) {
    auto [it, inserted] = last.try_emplace(id, action);
    if (inserted) {
      order.push_back(id);
    } else {
      it->second = action;
    }
  };
  for (size_t b = 0; b < batches.size(); ++b) {
    auto& batch = batches[b];
    // Within a batch the store applies jobs, then runs, then removals.
    for (size_t i = 0; i < batch.jobs.size(); ++i) note(batch.jobs[i].id, {false, b, i});
    for (auto& run : batch.new_runs) {
      std::string key = run.job_id;
      key += '\0';
      key += run.status;
      key += '\0';
      key += run.hook;
      if (run_keys.insert(std::move(key)).second) merged.new_runs.push_back(std::move(run));
    }
    for (const auto& id : batch.removed) note(id, {true, 0, 0});
  }
  for (const auto& id : order) {
    const LastAction& action = last.at(id);
    if (action.removed) {
      merged.removed.push_back(id);
    } else {
      merged.jobs.push_back(std::move(batches[action.batch].jobs[action.index]));
    }
  }
  return merged;
}

size_t rowsIn(const WriteBatch& batch) {
  return batch.jobs.size() + batch.new_runs.size() + batch.removed.size();
}

}  // namespace

StateWriter::StateWriter(StateStore& store, Log& log, std::function<void()> on_runs_committed,
                         size_t max_queued_rows)
    : store_(store),
      log_(log),
      on_runs_committed_(std::move(on_runs_committed)),
      max_queued_rows_(std::max<size_t>(max_queued_rows, 1)) {}

StateWriter::~StateWriter() { stop(kDestructorStopTimeout); }

void StateWriter::start() {
  if (thread_.joinable()) return;
  std::lock_guard lock(mu_);
  thread_ = std::jthread([this](std::stop_token stop) { run(std::move(stop)); });
  writer_thread_ = thread_.get_id();
  accepting_waits_ = true;
}

bool StateWriter::stop(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::uint64_t target = 0;
  {
    std::lock_guard lock(mu_);
    stop_deadline_ = deadline;
    target = enqueued_seq_;
    accepting_waits_ = false;
    cv_.notify_all();  // an enqueue() waiting for room goes ahead
  }
  const bool threaded = thread_.joinable();
  if (threaded) {
    thread_.request_stop();  // wakes the thread; it drains until the deadline
    thread_.join();
  }
  std::unique_lock lock(mu_);
  // Without a thread, or with writes it left (it died, or they came after
  // its final commit): commit here.
  if (!threaded || (!queued_.empty() && SteadyClock::now() < deadline)) drain(lock, deadline);
  return committed_seq_ >= target;
}

bool StateWriter::mayWait() const {
  return accepting_waits_ && !failing_ && std::this_thread::get_id() != writer_thread_;
}

void StateWriter::enqueue(WriteBatch batch) {
  if (batch.empty()) return;
  const size_t rows = rowsIn(batch);
  std::unique_lock lock(mu_);
  if (queued_rows_ >= max_queued_rows_ && mayWait()) {
    ++enqueue_waits_;
    cv_.wait_for(lock, kMaxEnqueueWait,
                 [this] { return queued_rows_ < max_queued_rows_ || !mayWait(); });
  }
  queued_rows_ += rows;
  queued_.push_back(std::move(batch));
  ++enqueued_seq_;
  cv_.notify_all();
}

bool StateWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const std::uint64_t target = enqueued_seq_;
  return cv_.wait_for(lock, timeout, [&] { return committed_seq_ >= target; });
}

bool StateWriter::failing() const {
  std::lock_guard lock(mu_);
  return failing_;
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

size_t StateWriter::enqueueWaits() const {
  std::lock_guard lock(mu_);
  return enqueue_waits_;
}

void StateWriter::run(std::stop_token stop) {
  try {
    std::unique_lock lock(mu_);
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
  } catch (const std::exception& e) {
    log_.error("state writer stopped by an unexpected error; queued state writes are not committed",
               {{"path", store_.path().string()}, {"error", e.what()}});
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
  const size_t left = queued_.size();
  lock.unlock();
  log_.error("state writes could not be committed before stop",
             {{"path", store_.path().string()}, {"queued_batches", std::to_string(left)}});
  lock.lock();
}

bool StateWriter::commitQueued(std::unique_lock<std::mutex>& lock) {
  std::vector<WriteBatch> batches;
  batches.swap(queued_);
  const size_t rows = queued_rows_;
  queued_rows_ = 0;
  committing_ = true;
  cv_.notify_all();  // room for enqueue() while this commits
  const std::uint64_t seq = enqueued_seq_;
  lock.unlock();

  const bool has_runs = std::any_of(batches.begin(), batches.end(),
                                    [](const WriteBatch& b) { return !b.new_runs.empty(); });
  Status status = Ok{};
  try {
    status = store_.apply(batches);
  } catch (const std::exception& e) {
    status = Error{store_.path().string() + ": " + e.what() + " (while committing)"};
  }

  if (status.ok()) {
    std::vector<WriteBatch>().swap(batches);  // freed before idle() can say so
    lock.lock();
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
    return true;
  }

  // Keep the writes, in order, ahead of anything queued meanwhile.
  if (batches.size() > 1) {
    WriteBatch merged = compact(std::move(batches));
    batches.clear();
    batches.push_back(std::move(merged));
  }
  lock.lock();
  committing_ = false;
  batches.insert(batches.end(), std::make_move_iterator(queued_.begin()),
                 std::make_move_iterator(queued_.end()));
  queued_ = std::move(batches);
  queued_rows_ = 0;
  for (const WriteBatch& batch : queued_) queued_rows_ += rowsIn(batch);
  failing_ = true;
  cv_.notify_all();  // enqueue() stops waiting for room while commits fail
  ++failed_attempts_;
  const auto now = SteadyClock::now();
  const bool first = failed_attempts_ == 1;
  const bool log_now = first || now - last_failure_log_ >= kFailureLogInterval;
  if (log_now) last_failure_log_ = now;
  const size_t failed_attempts = failed_attempts_;
  const size_t queued = queued_.size();
  lock.unlock();
  if (log_now) {
    log_.error(first ? "state write failed; keeping the writes and retrying"
                     : "state writes still failing; keeping the writes and retrying",
               {{"error", status.error().message},
                {"failed_attempts", std::to_string(failed_attempts)},
                {"queued_batches", std::to_string(queued)}});
  }
  lock.lock();
  return false;
}

}  // namespace jobwatch::state
