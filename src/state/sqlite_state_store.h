// SPDX-License-Identifier: Apache-2.0
// SqliteStateStore: the StateStore in one SQLite file (WAL mode,
// synchronous=FULL: a committed ledger entry must survive power loss). It
// composes the schema (state_schema.h), the jobs table with its tombstones
// (job_table.h), the hook ledger (hook_ledger.h) and the label rows
// (label_table.h) in transactions on one connection.
//
// Thread-safety: every public method may be called from any thread; one
// mutex serialises them on the connection.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>

#include "state/hook_ledger.h"
#include "state/job_history.h"
#include "state/job_table.h"
#include "state/label_table.h"
#include "state/result_table.h"
#include "state/sqlite_db.h"
#include "state/state_store.h"

namespace jobwatch::state {

class SqliteStateStore final : public StateStore {
 public:
  // Opens or creates the database file (its directory must exist), checks
  // integrity (quick_check) and schema, migrates an older schema, and makes
  // sure it can write. A locked database is waited for as `options` say;
  // those pauses are real (steady clock) sleeps of the calling thread.
  static Result<std::unique_ptr<SqliteStateStore>> open(const std::filesystem::path& path,
                                                        const Clock& clock,
                                                        const OpenOptions& options = {});
  ~SqliteStateStore() override = default;

  const std::filesystem::path& path() const override;
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

 private:
  SqliteStateStore(std::unique_ptr<sqlite::Connection> db, const Clock& clock);
  // One attempt; `busy` tells whether it failed on another process's lock.
  static Result<std::unique_ptr<SqliteStateStore>> openOnce(const std::filesystem::path& path,
                                                            const Clock& clock, bool& busy);
  Status prepareTables();
  // Runs `body` in a BEGIN IMMEDIATE transaction; commits if it succeeded,
  // rolls back otherwise. Every write goes through here; with mu_ held.
  template <typename Body>
  Status transaction(Body&& body);
  // Deletes a job and its finished ledger rows; a watch-file job leaves a
  // tombstone. Inside a transaction.
  Status forgetJob(const std::string& id);

  std::unique_ptr<sqlite::Connection> db_;
  const Clock& clock_;
  std::mutex mu_;      // serialises every public method on the one connection
  LabelTable labels_;  // the tables' prepared statements: guarded by mu_
  JobTable jobs_;
  HookLedger ledger_;
  ResultTable results_;
  JobHistory history_;
};

}  // namespace jobwatch::state
