// SPDX-License-Identifier: Apache-2.0
#include "state/result_table.h"

#include <utility>

#include "state/stored_codes.h"

namespace jobwatch::state {

using sqlite::Query;
using stored::floorMs;
using stored::fromMs;

namespace {

// With the job's account (not stored with the result: the job's row holds it).
std::string joinedSelect(const std::string& where) {
  return "SELECT r.job_id, r.state, r.file, r.error, r.attempts, r.since_ms, r.next_try_ms, "
         "COALESCE(j.account, 'default') FROM results AS r LEFT JOIN jobs AS j ON j.id = r.job_id "
         "WHERE " +
         where;
}

std::optional<ResultState> stateFromCode(std::int64_t code) {
  switch (code) {
    case 0:
      return ResultState::kPending;
    case 1:
      return ResultState::kDone;
    case 2:
      return ResultState::kGaveUp;
    default:
      return std::nullopt;
  }
}

}  // namespace

void fillRunResult(HookRun& run, std::optional<std::int64_t> state, std::string file,
                   std::string error) {
  if (!run.with_result) return;
  if (state && *state == resultStateCode(ResultState::kDone)) {
    run.result_file = std::move(file);
    return;
  }
  // No row: the job never completed here, or it was forgotten (with its
  // result) before the run ran; the hook still runs, told why.
  run.result_error = state ? std::move(error)
                           : std::string("no result: the job did not complete, or was forgotten");
  if (run.result_error.empty()) run.result_error = "result not available";
}

std::int64_t resultStateCode(ResultState state) {
  switch (state) {
    case ResultState::kPending:
      return 0;
    case ResultState::kDone:
      return 1;
    case ResultState::kGaveUp:
      return 2;
  }
  return 0;  // unreachable: every enumerator handled
}

Status ResultTable::prepare(sqlite::Connection& db) {
  db_ = &db;
  struct Entry {
    sqlite::Statement* stmt;
    std::string sql;
  };
  const Entry entries[] = {
      {&upsert_,
       "INSERT INTO results (job_id, state, file, error, attempts, since_ms, next_try_ms, "
       "updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
       "ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, file = excluded.file, "
       "error = excluded.error, attempts = max(attempts, excluded.attempts), "
       "next_try_ms = excluded.next_try_ms, updated_ms = excluded.updated_ms "
       "WHERE results.state = 0"},
      {&remove_, "DELETE FROM results WHERE job_id = ?1"},
      {&pending_, joinedSelect("r.state = 0 ORDER BY r.next_try_ms, r.job_id")},
      {&find_, joinedSelect("r.job_id = ?1")},
  };
  for (const auto& entry : entries) {
    auto stmt = db.prepare(entry.sql);
    if (!stmt) return stmt.error();
    *entry.stmt = std::move(stmt).value();
  }
  return Ok{};
}

Status ResultTable::upsert(const ResultRecord& record, std::int64_t now_ms) {
  Query q(*db_, upsert_, "recording a job's result");
  q.bind(record.job_id)
      .bind(resultStateCode(record.state))
      .bind(record.file)
      .bind(record.error)
      .bind(std::int64_t{record.attempts})
      .bind(floorMs(record.since))
      .bind(floorMs(record.next_try))
      .bind(now_ms);
  return q.run();
}

Status ResultTable::remove(const std::string& job_id) {
  Query q(*db_, remove_, "forgetting a job's result");
  q.bind(job_id);
  return q.run();
}

Result<std::vector<ResultRecord>> ResultTable::pending() {
  Query q(*db_, pending_, "reading pending results");
  std::vector<ResultRecord> out;
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) break;
    auto record = read(q);
    if (!record) return record.error();
    out.push_back(std::move(record).value());
  }
  return out;
}

Result<std::optional<ResultRecord>> ResultTable::find(const std::string& job_id) {
  Query q(*db_, find_, "reading a job's result");
  q.bind(job_id);
  auto row = q.step();
  if (!row) return row.error();
  std::optional<ResultRecord> out;
  if (!*row) return out;
  auto record = read(q);
  if (!record) return record.error();
  out = std::move(record).value();
  return out;
}

Result<ResultRecord> ResultTable::read(const Query& q) const {
  ResultRecord record;
  record.job_id = q.text(0);
  const auto state = stateFromCode(q.int64(1));
  if (!state) {
    return db_->error("result of job " + record.job_id + " has an unknown state code " +
                      std::to_string(q.int64(1)));
  }
  record.state = *state;
  record.file = q.text(2);
  record.error = q.text(3);
  record.attempts = static_cast<int>(q.int64(4));
  record.since = fromMs(q.int64(5));
  record.next_try = fromMs(q.int64(6));
  record.account = q.text(7);
  return record;
}

}  // namespace jobwatch::state
