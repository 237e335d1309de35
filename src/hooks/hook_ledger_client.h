// SPDX-License-Identifier: Apache-2.0
// LedgerClient: the hook runner's thread that talks to the store, so that
// the supervisor thread never has to. It claims due pending runs
// (committed as running before they are handed over, so before anything is
// spawned), at most as many as the supervisor has free slots; records the
// outcomes and releases the supervisor hands back, in order; and reports
// the pending count.
//
// A failing store (busy, locked, full or broken disk) is an expected
// condition: the error is logged, outcomes not yet recorded are kept in
// memory, and the store is tried again after a backoff. A run whose
// outcome never gets recorded stays `running` in the ledger, and the next
// start runs it again (StateStore::recoverInterruptedRuns).
//
// Thread-safety: run() on one thread at a time; the store, handoff, clock,
// log and events must outlive it.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <stop_token>
#include <string_view>

#include "hooks/hook_events.h"
#include "hooks/run_handoff.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::hooks {

class LedgerClient {
 public:
  LedgerClient(state::StateStore& store, RunHandoff& handoff, const Clock& clock, Log& log,
               HookEvents* events);
  LedgerClient(const LedgerClient&) = delete;
  LedgerClient& operator=(const LedgerClient&) = delete;

  // The thread body: works until `stop`; then records what the supervisor
  // handed back (call it after the supervisor's thread has ended) and
  // releases runs handed over but never taken. An unexpected error (an
  // exception) is logged once, marks the handoff failed and ends the thread.
  void run(std::stop_token stop);

 private:
  // One turn; returns how long to wait for new work before the next.
  std::chrono::milliseconds step();
  std::chrono::milliseconds nextWait(bool& quiet);
  bool claimDue() const;
  void claim(size_t free);
  // Records queued ops in order; false (store backing off) at the first
  // that fails.
  bool recordOps();
  void reportPending();
  void finish();
  bool storeUsable() const { return !retry_at_.has_value(); }
  void storeFailed(std::string_view what, const std::string& error);

  state::StateStore& store_;
  RunHandoff& handoff_;
  const Clock& clock_;
  Log& log_;
  HookEvents* const events_;

  std::deque<LedgerOp> unrecorded_;     // handed back, not yet in the store
  size_t delayed_ = 0;                  // how many at the front of unrecorded_ met a store error
  std::optional<SteadyTime> retry_at_;  // backing off after a store error
  bool claim_requested_ = true;
  bool pending_dirty_ = true;
  SteadyTime last_claim_at_{};
  bool last_claim_short_ = false;     // the last claim got fewer runs than asked for
  std::optional<WallTime> next_due_;  // earliest pending run, as of the last claim
};

}  // namespace jobwatch::hooks
