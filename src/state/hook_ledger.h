// SPDX-License-Identifier: Apache-2.0
// The hook ledger (hook_runs): one row per (job, status, hook) with its
// state and attempts; the hook queue. Private to src/state; SqliteStateStore
// runs these in its transactions.
//
// Thread-safety: none; the store serialises all use of its connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/label_table.h"
#include "state/sqlite_db.h"
#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state {

class HookLedger {
 public:
  [[nodiscard]] Status prepare(sqlite::Connection& db, LabelTable& labels);

  // Inside a transaction. An existing (job, status, hook) row is kept; an
  // empty body is taken from the job's stored last_body.
  [[nodiscard]] Status insert(const HookRun& run, std::int64_t now_ms);
  [[nodiscard]] Result<size_t> recoverInterrupted(std::int64_t now_ms);
  // Selects and marks running (inside a transaction).
  [[nodiscard]] Result<std::vector<HookRun>> claimDue(std::int64_t due_ms, std::int64_t limit,
                                                      std::int64_t now_ms);
  [[nodiscard]] Status finish(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                              const std::string& last_error, std::int64_t now_ms);
  [[nodiscard]] Status release(std::int64_t run_id, std::int64_t now_ms);
  // The finished rows of a forgotten job, with their labels.
  [[nodiscard]] Status deleteFinished(const std::string& job_id);

  // Inside a transaction: failed runs of (job, status) - all failed runs
  // when `job_id` is empty - pending again, due at `now_ms`. Returns them.
  [[nodiscard]] Result<std::vector<HookRun>> retryFailed(const std::string& job_id,
                                                         const std::string& status,
                                                         std::int64_t now_ms);
  // Runs in `state`, newest first, at most `limit`.
  [[nodiscard]] Result<std::vector<HookRun>> inState(HookRunState state, std::int64_t limit);

  [[nodiscard]] Result<std::optional<WallTime>> nextPendingAt();
  [[nodiscard]] Result<size_t> count(HookRunState state);
  [[nodiscard]] Result<std::vector<HookRun>> forJob(const std::string& job_id);
  // Most recently changed first.
  [[nodiscard]] Result<std::vector<HookRun>> recent(HookRunState state, size_t limit);

 private:
  // Steps `q` (rows of run columns joined with labels) to its end.
  Result<std::vector<HookRun>> readAll(sqlite::Query& q) const;
  Result<HookRun> read(const sqlite::Query& q) const;
  Error notRunning(std::int64_t run_id, std::string_view action);

  sqlite::Connection* db_ = nullptr;
  LabelTable* labels_ = nullptr;
  sqlite::Statement insert_;
  sqlite::Statement recover_;
  sqlite::Statement select_due_;
  sqlite::Statement claim_;
  sqlite::Statement finish_;
  sqlite::Statement release_;
  sqlite::Statement state_of_;
  sqlite::Statement next_pending_;
  sqlite::Statement count_;
  sqlite::Statement for_job_;
  sqlite::Statement recent_;
  sqlite::Statement delete_finished_;
  sqlite::Statement failed_of_event_;
  sqlite::Statement failed_all_;
  sqlite::Statement requeue_;
  sqlite::Statement in_state_;
};

}  // namespace jobwatch::state
