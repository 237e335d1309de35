// SPDX-License-Identifier: Apache-2.0
// PostgresStateStore: the StateStore in PostgreSQL, shared by a fleet
// (postgres_state_store.h for the contract). Its methods are split by
// topic: postgres_state_store.cpp (open, instance lock, sessions),
// postgres_jobs.cpp (apply and the job reads), postgres_ledger.cpp (the
// hook ledger), postgres_fleet.cpp (ticks and leaving). Private to
// src/state.
//
// Thread-safety: every public method may be called from any thread; one
// mutex serialises them on the one connection.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "state/postgres_connection.h"
#include "state/postgres_state_store.h"
#include "state/state_store.h"

namespace jobwatch::state {

class PostgresStateStore final : public StateStore {
 public:
  static Result<std::unique_ptr<PostgresStateStore>> open(const PostgresOptions& options,
                                                          const Clock& clock);
  ~PostgresStateStore() override = default;

  const std::filesystem::path& path() const override { return path_; }
  Result<std::vector<StoredJob>> loadJobs() override;
  Result<size_t> recoverInterruptedRuns() override;
  Status apply(const std::vector<WriteBatch>& batches) override;
  Result<std::vector<HookRun>> claimDueRuns(WallTime now, size_t limit) override;
  Status finishRun(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                   const std::string& last_error) override;
  Status releaseRun(std::int64_t run_id) override;
  Status recordAttempt(const HookAttempt& attempt) override;
  Result<std::vector<HookRun>> retryFailedRuns(const std::vector<std::string>& event_ids) override;
  Result<std::optional<WallTime>> nextPendingAt() override;
  Result<size_t> countRuns(HookRunState state) override;
  Result<std::vector<std::string>> loadForgotten() override;
  Result<std::vector<HookRun>> runsForJob(const std::string& job_id) override;
  Result<std::vector<HookRun>> recentRuns(HookRunState state, size_t limit) override;
  Result<std::vector<ResultRecord>> loadPendingResults() override;
  Result<std::optional<ResultRecord>> resultFor(const std::string& job_id) override;
  bool fleet() const override { return true; }
  Result<FleetTick> fleetTick(const FleetTickOptions& options) override;
  Status leaveFleet() override;

 private:
  PostgresStateStore(std::unique_ptr<pg::Connection> db, const PostgresOptions& options,
                     const Clock& clock);
  // open(): the instance lock, waited for as the options say.
  Status lockInstance(std::chrono::steady_clock::time_point deadline);
  Result<bool> tryLockInstance();
  // open(): takes over the previous incarnations' jobs and registers this one.
  Status registerIncarnation();
  // Reconnects if the connection broke (and takes the instance lock
  // again). With mu_ held, before every use of db_.
  Status session();
  // The lease parameter ($n) and this incarnation's, for fenced statements.
  std::string leaseParam() const { return std::to_string(options_.lease.count()); }
  // Whether this process holds job `id` and is live (locks the row).
  Result<bool> holds(const std::string& id);
  Result<bool> live();
  Status applyBatch(const WriteBatch& batch, std::int64_t now_ms);
  Status applyJobs(const WriteBatch& batch, std::set<std::string>& fenced);
  Status upsertJob(const StoredJob& job);
  Status writeLabels(const std::string& job_id, const status::Labels& labels);
  Status insertRun(const HookRun& run, std::int64_t now_ms);
  Status upsertResult(const ResultRecord& result, std::int64_t now_ms);
  Status addTransition(const TransitionEntry& entry);
  Status forgetJob(const std::string& id, std::int64_t now_ms);
  Status removeJob(const std::string& id);
  Status trimHistory(const char* table, const std::string& job_id);
  // Fleet steps, inside the tick's transaction.
  Status heartbeatAndReap();
  Result<size_t> claimFree(const FleetTickOptions& options, std::vector<std::string>& released);
  Result<std::vector<FleetMember>> members();
  Result<std::set<std::string>> heldIds();
  Status fillClaimed(FleetTick& tick, const std::vector<std::string>& ids);

  std::unique_ptr<pg::Connection> db_;  // guarded by mu_
  const PostgresOptions options_;
  const Clock& clock_;
  const std::string incarnation_;
  const std::int64_t started_ms_;
  const std::filesystem::path path_;  // "postgresql://host:port/db" (no credentials)
  std::mutex mu_;
  bool instance_locked_ = false;                    // on this session; guarded by mu_
  std::set<std::string> held_;                      // jobs this process holds; guarded by mu_
  std::vector<std::string> previous_incarnations_;  // taken over at open; guarded by mu_
};

}  // namespace jobwatch::state
