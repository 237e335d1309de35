// SPDX-License-Identifier: Apache-2.0
// JobHistory: each job's recent status transitions (job_transitions) and
// hook attempts (hook_attempts), for `jobwatchd show` and the status page.
// Bounded per job: after each insert only the kHistoryPerJob newest rows
// of that job stay. Deleted with the job when it is forgotten. Private to
// src/state: SqliteStateStore writes it in its transactions, StateReader
// reads it.
//
// Thread-safety: none; the owner serialises all use of its connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "state/sqlite_db.h"
#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state {

class JobHistory {
 public:
  [[nodiscard]] Status prepare(sqlite::Connection& db);

  // Inside a transaction; each trims its job's rows to the newest `keep`.
  [[nodiscard]] Status addTransition(const TransitionEntry& entry, size_t keep = kHistoryPerJob);
  [[nodiscard]] Status addAttempt(const HookAttempt& attempt, size_t keep = kHistoryPerJob);
  // Both histories of a forgotten job.
  [[nodiscard]] Status forget(const std::string& job_id);

  // Oldest first.
  [[nodiscard]] Result<std::vector<TransitionEntry>> transitions(const std::string& job_id);
  [[nodiscard]] Result<std::vector<HookAttempt>> attempts(const std::string& job_id);
  // The newest `limit` transitions of all jobs, newest first.
  [[nodiscard]] Result<std::vector<TransitionEntry>> recentTransitions(size_t limit);

 private:
  sqlite::Connection* db_ = nullptr;
  sqlite::Statement insert_transition_;
  sqlite::Statement trim_transitions_;
  sqlite::Statement insert_attempt_;
  sqlite::Statement trim_attempts_;
  sqlite::Statement forget_transitions_;
  sqlite::Statement forget_attempts_;
  sqlite::Statement select_transitions_;
  sqlite::Statement select_attempts_;
  sqlite::Statement select_recent_;
};

}  // namespace jobwatch::state
