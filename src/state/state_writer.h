// SPDX-License-Identifier: Apache-2.0
// StateWriter: batches the poll side's writes into few transactions on its
// own thread, so the scheduler never waits for the disk. Batches enqueued
// while a commit is in progress are merged into the next one. After each
// commit that inserted hook runs (or changed results, which release
// waiting runs), `on_runs_committed` is called (the hook
// runner wakes and claims them): hooks only ever start from committed rows.
//
// A failed commit (disk full, read-only) is logged, counted
// (writeFailures()) and retried with backoff; its writes are kept, never
// dropped.
//
// Memory without backpressure: enqueue() never waits. Queued rows are
// compacted per job instead: a job's newest StoredJob row replaces its
// older queued one (an empty last_body keeps the older row's body), so at
// most one job row per job waits, plus the ledger rows (new_runs,
// forgotten, removed), which are small and never dropped. A ledger row for
// a job is a barrier: a job row queued after it is not merged into one
// before it, so the store sees every removal, forget and run insertion in
// the order it was enqueued relative to that job's rows.
//
// Failure policy: an exception escaping the store or the callback is a
// bug, not a disk problem: the thread logs it and ends, failed() turns
// true (the service stops and systemd restarts it), and what was queued
// stays queued for stop() to try on the caller's thread.
//
// Ownership: the store and clock must outlive the writer. The thread is a
// jthread member, stopped (after a final flush) by stop() or the
// destructor. Thread-safety: enqueue() and flush() may be called from any
// thread; start() and stop() by the owner only. on_runs_committed runs on
// the writer's thread, without the writer's lock held.
//
// Time: decisions (log throttling) use the injected Clock. The waits
// themselves (retry backoff, stop deadline, flush timeout) are
// condition-variable waits on the real steady clock, which an injected
// clock cannot drive.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "state/state_store.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::state {

class StateWriter {
 public:
  StateWriter(StateStore& store, Log& log, const Clock& clock,
              std::function<void()> on_runs_committed);
  ~StateWriter();
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Whether fewer than kRoomRows rows wait (or commits are failing, when
  // the per-job compaction bounds the queue instead). The scheduler starts
  // no new polls while there is no room: it never waits for the disk, but
  // it does not poll faster than answers can be recorded (a burst of
  // 100,000 first answers would otherwise queue every job's body at once,
  // leaving the freed queue as holes in the poll thread's heap).
  static constexpr size_t kRoomRows = 1024;
  bool hasRoom() const;

  void start();
  // Commits what is queued, then ends the thread (bounded by `timeout`;
  // returns false if writes could not be committed by then). A commit
  // already under way is not interrupted, so a store blocked in SQLite
  // (busy timeout, slow disk) can hold stop() past `timeout`. Without a
  // running thread (never started, stopped, or failed), commits on the
  // caller's thread. The destructor calls stop(kDestructorStopTimeout).
  bool stop(std::chrono::milliseconds timeout);
  static constexpr std::chrono::milliseconds kDestructorStopTimeout{5000};

  // Never waits for the disk (see above).
  void enqueue(WriteBatch batch);
  // Waits until everything enqueued before the call is committed.
  bool flush(std::chrono::milliseconds timeout);

  // Whether the last commit attempt failed (for STATUS=).
  bool failing() const;
  // Commit attempts that failed so far (jobwatch_state_write_failures_total).
  size_t writeFailures() const;
  // Whether the thread ended on an unexpected error (the service stops).
  bool failed() const;
  size_t commits() const;
  // Rows (jobs, runs, forgets, removals) committed so far, and whether none wait.
  size_t committedRows() const;
  bool idle() const;
  // Rows waiting now, and job rows merged into an older queued row so far.
  size_t queuedRows() const;
  size_t mergedRows() const;

  // Retry backoff after a failed commit: doubles from the first to the cap.
  static constexpr std::chrono::milliseconds kFirstRetryDelay{100};
  static constexpr std::chrono::milliseconds kMaxRetryDelay{5000};
  // While commits keep failing, the error is logged again this often.
  static constexpr std::chrono::seconds kFailureLogInterval{30};

 private:
  // Where a job's mergeable queued row is: queued_[batch].jobs[index].
  struct JobSlot {
    size_t batch;
    size_t index;
  };

  void run(std::stop_token stop);
  // Appends `batch` to the queue, merging its job rows into queued ones
  // where no ledger row of the job came between; with mu_ held.
  void append(WriteBatch batch);
  // Takes everything queued and commits it in one store.apply(); on
  // failure puts it back at the front of the queue. Called with `lock`
  // held; releases it while committing and while calling back.
  bool commitQueued(std::unique_lock<std::mutex>& lock);
  void committed(std::unique_lock<std::mutex>& lock, size_t rows, std::uint64_t seq, bool has_runs);
  // Puts `batches` back ahead of anything queued meanwhile, compacted.
  void requeue(std::vector<WriteBatch> batches);
  void commitFailed(std::unique_lock<std::mutex>& lock, const Error& error);
  // After stop: commits until the queue is empty or `deadline` passes.
  void drain(std::unique_lock<std::mutex>& lock, std::chrono::steady_clock::time_point deadline);

  StateStore& store_;
  Log& log_;
  const Clock& clock_;
  std::function<void()> on_runs_committed_;
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<WriteBatch> queued_;                      // guarded by mu_
  std::unordered_map<std::string, JobSlot> open_jobs_;  // guarded by mu_
  size_t queued_rows_ = 0;                              // in queued_; guarded by mu_
  size_t merged_rows_ = 0;                              // guarded by mu_
  std::uint64_t enqueued_seq_ = 0;                      // guarded by mu_
  std::uint64_t committed_seq_ = 0;                     // guarded by mu_
  bool failing_ = false;                                // guarded by mu_
  bool failed_ = false;                                 // guarded by mu_
  size_t write_failures_ = 0;                           // guarded by mu_
  size_t commits_ = 0;                                  // guarded by mu_
  size_t committed_rows_ = 0;                           // guarded by mu_
  bool committing_ = false;                             // guarded by mu_
  size_t failed_attempts_ = 0;     // in the current failure streak; guarded by mu_
  SteadyTime last_failure_log_{};  // clock_; guarded by mu_
  std::chrono::steady_clock::time_point stop_deadline_{};  // guarded by mu_
  std::jthread thread_;
};

}  // namespace jobwatch::state
