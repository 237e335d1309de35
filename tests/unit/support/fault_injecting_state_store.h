// SPDX-License-Identifier: Apache-2.0
// A StateStore decorator that makes write transactions fail as a full or
// broken disk would (after leveldb's fault-injection Env): the next `n`
// writes return an error naming the file "(while committing)" and change
// nothing, exactly like a commit that SQLite rolled back. Reads pass through.
//
// Thread-safety: as the store it wraps; failNextCommits() may be called from
// any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "state/state_store.h"

namespace jobwatch::testing_support {

class FaultInjectingStateStore final : public state::StateStore {
 public:
  explicit FaultInjectingStateStore(std::unique_ptr<state::StateStore> inner)
      : inner_(std::move(inner)) {}

  // The next `n` write transactions fail (0: none; a huge n: until reset).
  void failNextCommits(int n) { fail_commits_ = n; }
  // While `when` says so, apply() throws (a bug in the store, not a disk
  // error: callers must not mistake one for the other).
  void throwOnApply(std::function<bool()> when) { throw_on_apply_ = std::move(when); }
  // Write transactions that failed by injection so far.
  int injectedFailures() const { return injected_; }
  state::StateStore& inner() { return *inner_; }

  const std::filesystem::path& path() const override { return inner_->path(); }
  Result<std::vector<state::StoredJob>> loadJobs() override { return inner_->loadJobs(); }
  Result<size_t> recoverInterruptedRuns() override {
    if (auto failed = injected()) return *failed;
    return inner_->recoverInterruptedRuns();
  }
  Status apply(const std::vector<state::WriteBatch>& batches) override {
    bool any = false;
    for (const auto& batch : batches) any = any || !batch.empty();
    if (!any) return Ok{};  // no transaction, nothing to fail
    if (throw_on_apply_ && throw_on_apply_()) throw std::runtime_error("injected exception");
    if (auto failed = injected()) return *failed;
    return inner_->apply(batches);
  }
  Result<std::vector<state::HookRun>> claimDueRuns(WallTime now, size_t limit) override {
    if (limit == 0) return std::vector<state::HookRun>{};
    if (auto failed = injected()) return *failed;
    return inner_->claimDueRuns(now, limit);
  }
  Status finishRun(std::int64_t run_id, state::RunOutcome outcome, WallTime retry_at,
                   const std::string& last_error) override {
    if (auto failed = injected()) return *failed;
    return inner_->finishRun(run_id, outcome, retry_at, last_error);
  }
  Status releaseRun(std::int64_t run_id) override {
    if (auto failed = injected()) return *failed;
    return inner_->releaseRun(run_id);
  }
  Status recordAttempt(const state::HookAttempt& attempt) override {
    return inner_->recordAttempt(attempt);
  }
  Result<std::vector<state::HookRun>> retryFailedRuns(
      const std::vector<std::string>& event_ids) override {
    return inner_->retryFailedRuns(event_ids);
  }
  Result<std::optional<WallTime>> nextPendingAt() override { return inner_->nextPendingAt(); }
  Result<size_t> countRuns(state::HookRunState state) override { return inner_->countRuns(state); }
  Result<std::vector<std::string>> loadForgotten() override { return inner_->loadForgotten(); }
  Result<std::vector<state::HookRun>> runsForJob(const std::string& job_id) override {
    return inner_->runsForJob(job_id);
  }
  Result<std::vector<state::HookRun>> recentRuns(state::HookRunState state, size_t limit) override {
    return inner_->recentRuns(state, limit);
  }
  Result<std::vector<state::ResultRecord>> loadPendingResults() override {
    return inner_->loadPendingResults();
  }
  Result<std::optional<state::ResultRecord>> resultFor(const std::string& job_id) override {
    return inner_->resultFor(job_id);
  }

 private:
  // The error for this write, if it is to fail.
  std::optional<Error> injected() {
    int left = fail_commits_.load();
    while (left > 0) {
      if (fail_commits_.compare_exchange_weak(left, left - 1)) {
        ++injected_;
        return Error{inner_->path().string() +
                         ": disk I/O error injected by FaultInjectingStateStore (while committing)",
                     ErrorKind::kRuntime};
      }
    }
    return std::nullopt;
  }

  std::unique_ptr<state::StateStore> inner_;
  std::atomic<int> fail_commits_{0};
  std::atomic<int> injected_{0};
  std::function<bool()> throw_on_apply_;  // set before use by other threads
};

}  // namespace jobwatch::testing_support
