// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_ledger_client.h"

#include <algorithm>
#include <exception>

#include "util/current_exception.h"
#include "util/duration.h"

namespace jobwatch::hooks {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kFallbackWait{60'000};
// After a failed store call (busy or locked database, disk error).
constexpr milliseconds kStoreBackoff{1000};
// The store is asked for due runs at least this often, wake() or not.
constexpr milliseconds kClaimRecheck{1000};
// When a run looks due but the claim returned nothing, do not spin.
constexpr milliseconds kDueButNotClaimedWait{100};

milliseconds ceilMillis(std::chrono::nanoseconds d) { return std::chrono::ceil<milliseconds>(d); }

}  // namespace

LedgerClient::LedgerClient(state::StateStore& store, RunHandoff& handoff, const Clock& clock,
                           Log& log, HookEvents* events)
    : store_(store), handoff_(handoff), clock_(clock), log_(log), events_(events) {}

void LedgerClient::run(std::stop_token stop) {
  claim_requested_ = true;
  pending_dirty_ = true;
  try {
    while (!stop.stop_requested()) handoff_.waitForLedgerWork(stop, step());
    finish();
  } catch (...) {
    // Unexpected (a failing store is a value, handled in step()): runs it
    // claimed and did not finish stay `running` in the ledger, and the next
    // start runs them again.
    log_.error("hook ledger thread failed; hooks stop until jobwatchd restarts",
               {{"error", currentExceptionText()}});
    handoff_.markFailed();
  }
}

milliseconds LedgerClient::step() {
  LedgerWork work = handoff_.takeLedgerWork();
  for (auto& op : work.ops) unrecorded_.push_back(std::move(op));
  claim_requested_ |= work.claim_requested;
  pending_dirty_ |= work.pending_dirty;
  if (retry_at_ && clock_.now() >= *retry_at_) {
    retry_at_.reset();
    claim_requested_ = true;
  }
  if (storeUsable() && recordOps()) {
    const size_t free = handoff_.freeSlots();
    if (free > 0 && claimDue()) claim(free);
  }
  if (storeUsable()) reportPending();
  bool quiet = false;
  const milliseconds wait = nextWait(quiet);
  handoff_.ledgerRested(quiet);
  return wait;
}

milliseconds LedgerClient::nextWait(bool& quiet) {
  const SteadyTime now = clock_.now();
  SteadyTime wake_at = now + kFallbackWait;
  if (retry_at_) wake_at = std::min(wake_at, *retry_at_);
  bool due_now = false;
  if (storeUsable() && handoff_.freeSlots() > 0) {
    wake_at = std::min(wake_at, claim_requested_ ? now : last_claim_at_ + kClaimRecheck);
    if (next_due_) {
      const auto until = *next_due_ - clock_.wallNow();
      if (until <= std::chrono::nanoseconds::zero()) {
        due_now = true;
        // Due, yet the claim just made did not take it: do not spin.
        wake_at =
            std::min(wake_at, now + (last_claim_short_ ? kDueButNotClaimedWait : milliseconds(0)));
      } else {
        wake_at = std::min(wake_at, now + ceilMillis(until));
      }
    }
  }
  quiet = unrecorded_.empty() && storeUsable() && !due_now && !claim_requested_ && !pending_dirty_;
  return std::max(milliseconds(0), ceilMillis(wake_at - now));
}

// Whether to ask the store for due runs now. Not on every turn: a claim is
// a transaction. New runs come with wake(); retries and slots freed by
// finished runs set claim_requested_; the cached next due time covers the
// rest, and a periodic recheck covers a writer that forgot to wake us.
bool LedgerClient::claimDue() const {
  if (claim_requested_) return true;
  if (next_due_ && clock_.wallNow() >= *next_due_) return true;
  return clock_.now() - last_claim_at_ >= kClaimRecheck;
}

void LedgerClient::claim(size_t free) {
  claim_requested_ = false;
  last_claim_at_ = clock_.now();
  auto runs = store_.claimDueRuns(clock_.wallNow(), free);
  if (!runs) {
    storeFailed("cannot claim hook runs", runs.error().message);
    return;
  }
  last_claim_short_ = runs->size() < free;
  if (!runs->empty()) pending_dirty_ = true;
  handoff_.handOver(std::move(runs).value());
  auto next = store_.nextPendingAt();
  if (!next) {
    storeFailed("cannot read the hook queue", next.error().message);
    return;
  }
  next_due_ = *next;
}

bool LedgerClient::recordOps() {
  while (!unrecorded_.empty()) {
    LedgerOp& op = unrecorded_.front();
    if (op.attempt) {
      if (auto s = store_.recordAttempt(*op.attempt); !s) {
        storeFailed("cannot record a hook attempt in the job's history; will retry",
                    s.error().message);
        delayed_ = unrecorded_.size();
        return false;
      }
      op.attempt.reset();
    }
    if (op.kind == LedgerOp::Kind::kRelease) {
      if (auto s = store_.releaseRun(op.run_id); !s) {
        storeFailed("cannot release a hook run; will retry", s.error().message);
        delayed_ = unrecorded_.size();
        return false;
      }
    } else if (auto s = store_.finishRun(op.run_id, op.outcome, op.retry_at, op.last_error); !s) {
      storeFailed("cannot record a hook run's outcome; will retry", s.error().message);
      delayed_ = unrecorded_.size();
      return false;
    }
    if (delayed_ > 0) {
      --delayed_;
      log_.info("hook run outcome recorded after a store error",
                {{"hook", op.hook}, {"job_id", op.job_id}});
    }
    pending_dirty_ = true;
    unrecorded_.pop_front();
  }
  return true;
}

void LedgerClient::reportPending() {
  if (events_ == nullptr || !pending_dirty_) return;
  auto pending = store_.countRuns(state::HookRunState::kPending);
  if (!pending) {
    storeFailed("cannot count pending hook runs", pending.error().message);
    return;
  }
  pending_dirty_ = false;
  events_->onPendingChanged(*pending);
}

void LedgerClient::storeFailed(std::string_view what, const std::string& error) {
  log_.error(what, {{"error", error}, {"retry_in", formatDuration(kStoreBackoff)}});
  retry_at_ = clock_.now() + kStoreBackoff;
}

// Stop (the supervisor has ended): runs handed over but never started are
// released; each outcome and release is tried once more, in order.
void LedgerClient::finish() {
  for (auto& run : handoff_.takeHandedOver()) unrecorded_.push_back(LedgerOp::release(run));
  for (auto& op : handoff_.takeLedgerWork().ops) unrecorded_.push_back(std::move(op));
  retry_at_.reset();
  if (!recordOps()) {
    for (const auto& op : unrecorded_) {
      log_.error(op.kind == LedgerOp::Kind::kRelease
                     ? "cannot release a hook run; it will run again after restart"
                     : "hook run outcome could not be recorded; the run will repeat after restart",
                 {{"hook", op.hook}, {"job_id", op.job_id}});
    }
    unrecorded_.clear();
  }
  retry_at_.reset();
  pending_dirty_ = true;
  reportPending();
  retry_at_.reset();
  handoff_.ledgerRested(true);
}

}  // namespace jobwatch::hooks
