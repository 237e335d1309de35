// SPDX-License-Identifier: Apache-2.0
// The results table: one row per job whose result a hook wants (SPEC
// "Results"), pending until fetched or given up. Private to src/state;
// SqliteStateStore runs these in its transactions. The hook ledger's claim
// reads it too (a with_result run waits while its job's row is pending).
//
// Thread-safety: none; the store serialises all use of its connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "state/sqlite_db.h"
#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state {

class ResultTable {
 public:
  [[nodiscard]] Status prepare(sqlite::Connection& db);

  // Inside a transaction. Inserts, or updates a pending row; a done or
  // given-up row is final and kept as it is.
  [[nodiscard]] Status upsert(const ResultRecord& record, std::int64_t now_ms);
  [[nodiscard]] Status remove(const std::string& job_id);
  [[nodiscard]] Result<std::vector<ResultRecord>> pending();
  [[nodiscard]] Result<std::optional<ResultRecord>> find(const std::string& job_id);

 private:
  Result<ResultRecord> read(const sqlite::Query& q) const;

  sqlite::Connection* db_ = nullptr;
  sqlite::Statement upsert_;
  sqlite::Statement remove_;
  sqlite::Statement pending_;
  sqlite::Statement find_;
};

// The stored codes of ResultState (0 pending, 1 done, 2 gave up).
std::int64_t resultStateCode(ResultState state);

// Fills a with_result run's result_file, or result_error saying why it has
// none, from its job's results row (state code, file, error; no row:
// nullopt), as both stores read it with the run.
void fillRunResult(HookRun& run, std::optional<std::int64_t> state, std::string file,
                   std::string error);

}  // namespace jobwatch::state
