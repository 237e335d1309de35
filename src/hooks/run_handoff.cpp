// SPDX-License-Identifier: Apache-2.0
#include "hooks/run_handoff.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace jobwatch::hooks {

namespace {

int makeEventFd() {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    std::fprintf(stderr, "jobwatchd: broken invariant: eventfd: %s\n", strerrordesc_np(errno));
    std::abort();
  }
  return fd;
}

}  // namespace

LedgerOp LedgerOp::finish(const state::HookRun& run, state::RunOutcome outcome, WallTime retry_at,
                          std::string last_error) {
  LedgerOp op;
  op.kind = Kind::kFinish;
  op.run_id = run.run_id;
  op.hook = run.hook;
  op.job_id = run.job_id;
  op.outcome = outcome;
  op.retry_at = retry_at;
  op.last_error = std::move(last_error);
  return op;
}

LedgerOp LedgerOp::release(const state::HookRun& run) {
  LedgerOp op;
  op.kind = Kind::kRelease;
  op.run_id = run.run_id;
  op.hook = run.hook;
  op.job_id = run.job_id;
  return op;
}

RunHandoff::RunHandoff(config::HooksConfig hooks)
    : supervisor_fd_(makeEventFd()), hooks_(std::move(hooks)) {}

RunHandoff::~RunHandoff() { ::close(supervisor_fd_); }

void RunHandoff::setHooks(config::HooksConfig hooks) {
  {
    std::lock_guard lock(mu_);
    hooks_ = std::move(hooks);
  }
  requestClaim();  // max_concurrent may have grown
}

std::optional<config::HookDefinition> RunHandoff::findHook(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& def : hooks_.definitions) {
    if (def.name == name) return def;
  }
  return std::nullopt;
}

size_t RunHandoff::freeSlots() const {
  std::lock_guard lock(mu_);
  if (stopping_ || failed_) return 0;
  const size_t limit = static_cast<size_t>(std::max(1, hooks_.max_concurrent));
  return in_hand_ >= limit ? 0 : limit - in_hand_;
}

void RunHandoff::handOver(std::vector<state::HookRun> runs) {
  if (runs.empty()) return;
  {
    std::lock_guard lock(mu_);
    in_hand_ += runs.size();
    for (auto& run : runs) handed_over_.push_back(std::move(run));
  }
  wakeSupervisor();
}

std::deque<state::HookRun> RunHandoff::takeHandedOver() {
  std::lock_guard lock(mu_);
  return std::exchange(handed_over_, {});
}

void RunHandoff::handBack(LedgerOp op) {
  {
    std::lock_guard lock(mu_);
    if (in_hand_ > 0) --in_hand_;
    ops_.push_back(std::move(op));
    claim_requested_ = true;  // a slot is free, and a retry may be due soon
    pending_dirty_ = true;
  }
  ledger_cv_.notify_all();
}

LedgerWork RunHandoff::takeLedgerWork() {
  std::lock_guard lock(mu_);
  ledger_busy_ = true;
  LedgerWork work;
  work.ops = std::exchange(ops_, {});
  work.claim_requested = std::exchange(claim_requested_, false);
  work.pending_dirty = std::exchange(pending_dirty_, false);
  return work;
}

void RunHandoff::ledgerRested(bool quiet) {
  {
    std::lock_guard lock(mu_);
    ledger_busy_ = false;
    ledger_quiet_ = quiet;
  }
  idle_cv_.notify_all();
}

void RunHandoff::waitForLedgerWork(std::stop_token stop, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  ledger_cv_.wait_for(lock, stop, wait, [this] { return !ops_.empty() || claim_requested_; });
}

void RunHandoff::requestClaim() {
  {
    std::lock_guard lock(mu_);
    claim_requested_ = true;
    pending_dirty_ = true;
  }
  ledger_cv_.notify_all();
}

void RunHandoff::beginStop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
}

void RunHandoff::resume() {
  std::lock_guard lock(mu_);
  stopping_ = false;
  claim_requested_ = true;
  pending_dirty_ = true;
  ledger_quiet_ = false;
}

void RunHandoff::markFailed() {
  {
    std::lock_guard lock(mu_);
    failed_ = true;
  }
  idle_cv_.notify_all();
}

bool RunHandoff::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

bool RunHandoff::idleLocked() const {
  return in_hand_ == 0 && ops_.empty() && !claim_requested_ && !ledger_busy_ && ledger_quiet_;
}

bool RunHandoff::waitIdle(std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, bound, [this] { return failed_ || idleLocked(); });
}

void RunHandoff::wakeSupervisor() {
  std::uint64_t one = 1;
  // EAGAIN only when the counter is about to overflow: already woken.
  [[maybe_unused]] ssize_t n = ::write(supervisor_fd_, &one, sizeof one);
}

void RunHandoff::clearSupervisorWake() {
  std::uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(supervisor_fd_, &count, sizeof count);
}

}  // namespace jobwatch::hooks
