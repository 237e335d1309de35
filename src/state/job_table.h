// SPDX-License-Identifier: Apache-2.0
// The jobs table and its tombstones (forgotten_jobs): what a restart needs
// to resume every watched job, and which forgotten watch-file jobs must not
// be watched again. Private to src/state; SqliteStateStore composes it with
// the hook ledger in its transactions.
//
// Thread-safety: none; the store serialises all use of its connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "state/label_table.h"
#include "state/sqlite_db.h"
#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state {

class JobTable {
 public:
  [[nodiscard]] Status prepare(sqlite::Connection& db, LabelTable& labels);

  [[nodiscard]] Result<std::vector<StoredJob>> loadAll();
  // Inside a transaction. An empty last_body keeps the stored one.
  [[nodiscard]] Status upsert(const StoredJob& job);
  // Inside a transaction: inserts the job unless a row with its ID exists
  // (WriteBatch::registered); an existing row is left as it is.
  [[nodiscard]] Status insertIfAbsent(const StoredJob& job);
  // Deletes the job and its tombstone (the job left the watch list).
  [[nodiscard]] Status remove(const std::string& id);
  // Deletes the job; a watch-file job leaves a tombstone stamped `now_ms`.
  [[nodiscard]] Status forget(const std::string& id, std::int64_t now_ms);
  // IDs of terminal jobs whose terminal_at is before `cutoff_ms`.
  [[nodiscard]] Result<std::vector<std::string>> tombstones();

 private:
  Result<StoredJob> read(const sqlite::Query& q) const;
  Status write(sqlite::Statement& stmt, const StoredJob& job, const char* what);
  Result<std::vector<std::string>> ids(sqlite::Statement& stmt, std::int64_t arg, const char* what);

  sqlite::Connection* db_ = nullptr;
  LabelTable* labels_ = nullptr;
  sqlite::Statement upsert_;
  sqlite::Statement insert_new_;
  sqlite::Statement delete_;
  sqlite::Statement select_all_;
  sqlite::Statement insert_tombstone_;
  sqlite::Statement delete_tombstone_;
  sqlite::Statement select_tombstones_;
};

}  // namespace jobwatch::state
