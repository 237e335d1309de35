// StateWriter: batches the poll side's writes into few transactions on its
// own thread, so the scheduler never waits for the disk. Batches enqueued
// while a commit is in progress are merged into the next one. After each
// commit that inserted hook runs, `on_runs_committed` is called (the hook
// runner wakes and claims them): hooks only ever start from committed rows.
//
// A failed commit (disk full, read-only) is logged and retried with backoff;
// its writes are kept, never dropped.
//
// Backpressure: while `max_queued_rows` rows wait for a commit, enqueue()
// waits (at most kMaxEnqueueWait per call) for the writer to catch up. A
// burst - 100,000 jobs seen for the first time within one interval - is so
// held to the disk's pace instead of queueing every job's body at once,
// which would leave the freed queue as holes in the poll thread's heap. It
// never waits while commits are failing (a failure streak is compacted
// instead), from the writer's own thread, before start() or after stop().
//
// Ownership: the store must outlive the writer. The thread is a jthread
// member, stopped (after a final flush) by stop() or the destructor.
// Thread-safety: enqueue() and flush() may be called from any thread;
// start() and stop() by the owner only. on_runs_committed runs on the
// writer's thread, without the writer's lock held.
//
// Retry timing (backoff, log throttling) uses the real steady clock: the
// waits are condition-variable waits, which an injected clock cannot drive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "state/state_store.h"
#include "util/log.h"

namespace jobwatch::state {

class StateWriter {
 public:
  static constexpr size_t kDefaultMaxQueuedRows = 1024;
  static constexpr std::chrono::milliseconds kMaxEnqueueWait{1000};

  StateWriter(StateStore& store, Log& log, std::function<void()> on_runs_committed,
              size_t max_queued_rows = kDefaultMaxQueuedRows);
  ~StateWriter();
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  void start();
  // Commits what is queued, then ends the thread (bounded by `timeout`;
  // returns false if writes could not be committed by then). A commit
  // already under way is not interrupted, so a store blocked in SQLite
  // (busy timeout, slow disk) can hold stop() past `timeout`. Without a
  // running thread (never started, or stopped), commits on the caller's
  // thread. The destructor calls stop(kDestructorStopTimeout).
  bool stop(std::chrono::milliseconds timeout);
  static constexpr std::chrono::milliseconds kDestructorStopTimeout{5000};

  void enqueue(WriteBatch batch);
  // Waits until everything enqueued before the call is committed.
  bool flush(std::chrono::milliseconds timeout);

  // Whether the last commit attempt failed (for a metric and STATUS=).
  bool failing() const;
  size_t commits() const;
  // How many enqueue() calls found the queue full and waited.
  size_t enqueueWaits() const;
  // Rows (jobs, runs, removals) committed so far, and whether none wait.
  size_t committedRows() const;
  bool idle() const;

  // Retry backoff after a failed commit: doubles from the first to the cap.
  static constexpr std::chrono::milliseconds kFirstRetryDelay{100};
  static constexpr std::chrono::milliseconds kMaxRetryDelay{5000};
  // While commits keep failing, the error is logged again this often.
  static constexpr std::chrono::seconds kFailureLogInterval{30};

 private:
  void run(std::stop_token stop);
  // Takes everything queued and commits it in one store.apply(); on
  // failure puts it back at the front of the queue. Called with `lock`
  // held; releases it while committing and while calling back.
  bool commitQueued(std::unique_lock<std::mutex>& lock);
  // After stop: commits until the queue is empty or `deadline` passes.
  void drain(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point deadline);
  // Whether enqueue() may wait for room; with mu_ held.
  bool mayWait() const;

  StateStore& store_;
  Log& log_;
  std::function<void()> on_runs_committed_;
  const size_t max_queued_rows_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<WriteBatch> queued_;   // guarded by mu_
  size_t queued_rows_ = 0;           // in queued_; guarded by mu_
  size_t enqueue_waits_ = 0;         // guarded by mu_
  bool accepting_waits_ = false;     // between start() and stop(); guarded by mu_
  std::thread::id writer_thread_{};  // guarded by mu_
  std::uint64_t enqueued_seq_ = 0;   // guarded by mu_
  std::uint64_t committed_seq_ = 0;  // guarded by mu_
  bool failing_ = false;             // guarded by mu_
  size_t commits_ = 0;               // guarded by mu_
  size_t committed_rows_ = 0;        // guarded by mu_
  bool committing_ = false;          // guarded by mu_
  size_t failed_attempts_ = 0;       // in the current failure streak; guarded by mu_
  std::chrono::steady_clock::time_point last_failure_log_{};  // guarded by mu_
  std::chrono::steady_clock::time_point stop_deadline_{};     // guarded by mu_
  std::jthread thread_;
};

}  // namespace jobwatch::state
