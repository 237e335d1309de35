// SPDX-License-Identifier: Apache-2.0
// RunHandoff: what the hook runner's two threads hand each other.
//
// The ledger thread (LedgerClient) is the only one that calls the store: it
// claims due runs and hands them over here. The supervisor thread
// (HookSupervisor) takes them, runs the processes and hands back each run's
// outcome, or its release when the runner stops before the run ended. Every
// method holds the mutex only to move queue entries and counters, never
// across a store call or a child operation, so the supervisor never waits
// for the disk, however long a store call takes.
//
// It also holds the hook definitions (setHooks may come from any thread),
// the number of runs in the supervisor's hands (max_concurrent counts a run
// from its hand-over until its outcome is handed back), and the state that
// waitIdle() waits for.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "config/config.h"
#include "state/state_store.h"
#include "util/clock.h"

namespace jobwatch::hooks {

// A ledger write the supervisor asks for: a claimed run's outcome
// (kFinish), or its release back to pending (kRelease).
struct LedgerOp {
  enum class Kind { kFinish, kRelease };
  Kind kind = Kind::kFinish;
  std::int64_t run_id = 0;
  std::string hook;
  std::string job_id;
  state::RunOutcome outcome = state::RunOutcome::kFailed;  // kFinish only
  WallTime retry_at{};                                     // kFinish with kRetry only
  std::string last_error;                                  // kFinish only
  // kFinish of a started (or failed to start) run: its record for the
  // job's history, written before the outcome (then cleared, so a retried
  // write does not record it twice).
  std::optional<state::HookAttempt> attempt;

  static LedgerOp finish(const state::HookRun& run, state::RunOutcome outcome, WallTime retry_at,
                         std::string last_error);
  static LedgerOp release(const state::HookRun& run);
};

// What the ledger thread has to do, taken in one go.
struct LedgerWork {
  std::deque<LedgerOp> ops;      // in the order they were handed back
  bool claim_requested = false;  // new runs committed, or a slot was freed
  bool pending_dirty = false;    // the pending count may have changed
};

class RunHandoff {
 public:
  explicit RunHandoff(config::HooksConfig hooks);
  ~RunHandoff();
  RunHandoff(const RunHandoff&) = delete;
  RunHandoff& operator=(const RunHandoff&) = delete;

  // ---- settings
  void setHooks(config::HooksConfig hooks);
  std::optional<config::HookDefinition> findHook(const std::string& name) const;

  // ---- ledger -> supervisor
  // Runs the ledger may claim now: max_concurrent minus the runs in the
  // supervisor's hands; 0 once stopping or failed.
  size_t freeSlots() const;
  void handOver(std::vector<state::HookRun> runs);
  std::deque<state::HookRun> takeHandedOver();

  // ---- supervisor -> ledger
  // The run's slot is free again; the op is queued for the ledger thread.
  void handBack(LedgerOp op);

  // ---- the ledger thread's side
  LedgerWork takeLedgerWork();
  // After a step: `quiet` when the ledger has nothing left to do now
  // (everything recorded, no run due, no store backoff).
  void ledgerRested(bool quiet);
  // Waits up to `wait` for work (ops, a claim request) or a stop request.
  void waitForLedgerWork(std::stop_token stop, std::chrono::milliseconds wait);

  // ---- requests from any thread
  void requestClaim();  // new runs were committed (wake())
  void beginStop();     // no more claims; the threads are about to stop
  void resume();        // before the threads start (again)

  // ---- failure and idleness
  // A thread ended because of an unexpected error.
  void markFailed();
  bool failed() const;
  // Waits up to `bound` until no run is in the supervisor's hands, every
  // op is recorded and the ledger is quiet (or a thread failed). True if
  // that happened in time.
  bool waitIdle(std::chrono::milliseconds bound);

  // ---- waking the supervisor (its poll() watches supervisorFd())
  int supervisorFd() const { return supervisor_fd_; }
  void wakeSupervisor();
  void clearSupervisorWake();

 private:
  bool idleLocked() const;

  const int supervisor_fd_;  // eventfd
  mutable std::mutex mu_;
  std::condition_variable_any ledger_cv_;
  std::condition_variable idle_cv_;
  // All guarded by mu_.
  config::HooksConfig hooks_;
  std::deque<state::HookRun> handed_over_;  // not yet taken by the supervisor
  std::deque<LedgerOp> ops_;
  size_t in_hand_ = 0;  // handed over, outcome or release not yet handed back
  bool stopping_ = false;
  bool claim_requested_ = true;
  bool pending_dirty_ = true;
  bool ledger_busy_ = false;  // between takeLedgerWork() and ledgerRested()
  bool ledger_quiet_ = false;
  bool failed_ = false;
};

}  // namespace jobwatch::hooks
