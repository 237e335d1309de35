// SPDX-License-Identifier: Apache-2.0
#include "state/job_table.h"

#include <optional>
#include <utility>

#include "state/stored_codes.h"

namespace jobwatch::state {

using sqlite::Query;
using namespace stored;

namespace {

constexpr const char* kColumns =
    "id, source, status, terminal, status_raw, type, pdf_name, pdf_hash, error, "
    "created_at, updated_at, last_body, added_at_ms, terminal_at_ms, consecutive_errors, overdue, "
    "account";
constexpr int kLabelColumn = 17;  // after kColumns, in select_all_

}  // namespace

Status JobTable::prepare(sqlite::Connection& db, LabelTable& labels) {
  db_ = &db;
  labels_ = &labels;
  const std::string cols(kColumns);
  struct Entry {
    sqlite::Statement* stmt;
    std::string sql;
  };
  const Entry entries[] = {
      {&upsert_,
       "INSERT INTO jobs (" + cols +
           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
           "ON CONFLICT (id) DO UPDATE SET source = excluded.source, "
           "status = excluded.status, terminal = excluded.terminal, "
           "status_raw = excluded.status_raw, type = excluded.type, "
           "pdf_name = excluded.pdf_name, pdf_hash = excluded.pdf_hash, error = excluded.error, "
           "created_at = excluded.created_at, updated_at = excluded.updated_at, "
           "last_body = CASE WHEN excluded.last_body = '' THEN jobs.last_body "
           "ELSE excluded.last_body END, added_at_ms = excluded.added_at_ms, "
           "terminal_at_ms = excluded.terminal_at_ms, "
           "consecutive_errors = excluded.consecutive_errors, overdue = excluded.overdue"},
      // (account is not updated: the first binding stays, see StoredJob)
      {&insert_new_,
       "INSERT INTO jobs (" + cols +
           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "
           "ON CONFLICT (id) DO NOTHING"},
      {&delete_, "DELETE FROM jobs WHERE id = ?1"},
      // One row per label (one with NULLs for a job without labels).
      {&select_all_,
       "SELECT j.id, j.source, j.status, j.terminal, j.status_raw, j.type, "
       "j.pdf_name, j.pdf_hash, j.error, j.created_at, j.updated_at, j.last_body, "
       "j.added_at_ms, j.terminal_at_ms, j.consecutive_errors, j.overdue, j.account, l.key, "
       "l.value "
       "FROM jobs AS j LEFT JOIN job_labels AS l ON l.job_id = j.id "
       "ORDER BY j.id, l.key"},
      {&insert_tombstone_,
       "INSERT OR REPLACE INTO forgotten_jobs (id, forgotten_at_ms) "
       "SELECT id, ?2 FROM jobs WHERE id = ?1 AND source = 0"},
      {&delete_tombstone_, "DELETE FROM forgotten_jobs WHERE id = ?1"},
      {&select_tombstones_, "SELECT id FROM forgotten_jobs WHERE ?1 = ?1 ORDER BY id"},
  };
  for (const auto& entry : entries) {
    auto stmt = db.prepare(entry.sql);
    if (!stmt) return stmt.error();
    *entry.stmt = std::move(stmt).value();
  }
  return Ok{};
}

Result<std::vector<StoredJob>> JobTable::loadAll() {
  Query q(*db_, select_all_, "loading jobs");
  return LabelTable::readGrouped<StoredJob>(
      q, kLabelColumn, [](const StoredJob& job, const Query& row) { return job.id == row.view(0); },
      [this](const Query& row) { return read(row); });
}

Result<StoredJob> JobTable::read(const Query& q) const {
  StoredJob job;
  job.id = q.text(0);
  const std::int64_t source = q.int64(1);
  if (source == kSourceWatchFile) {
    job.source = JobSource::kWatchFile;
  } else if (source == kSourceDropDir) {
    job.source = JobSource::kDropDir;
  } else {
    return db_->error("job " + job.id + " has an unknown source code " + std::to_string(source));
  }
  job.status = q.text(2);
  job.terminal = q.int64(3) != 0;
  job.facts = readFacts(q, 4);
  job.last_body = q.text(11);
  job.added_at = fromMs(q.int64(12));
  // NULL stays the epoch: not terminal.
  if (auto terminal_at = q.optionalInt64(13)) job.terminal_at = fromMs(*terminal_at);
  job.consecutive_errors = static_cast<int>(q.int64(14));
  job.overdue = q.int64(15) != 0;
  job.account = q.text(16);
  return job;
}

Status JobTable::upsert(const StoredJob& job) { return write(upsert_, job, "saving a job"); }

Status JobTable::insertIfAbsent(const StoredJob& job) {
  return write(insert_new_, job, "registering a job");
}

Status JobTable::write(sqlite::Statement& stmt, const StoredJob& job, const char* what) {
  std::optional<std::int64_t> terminal_at;
  if (job.terminal_at != WallTime{}) terminal_at = floorMs(job.terminal_at);
  {
    Query q(*db_, stmt, what);
    q.bind(job.id)
        .bind(job.source == JobSource::kDropDir ? kSourceDropDir : kSourceWatchFile)
        .bind(job.status)
        .bind(std::int64_t{job.terminal ? 1 : 0});
    bindFacts(q, job.facts)
        .bind(job.last_body)
        .bind(floorMs(job.added_at))
        .bind(terminal_at)
        .bind(std::int64_t{job.consecutive_errors})
        .bind(std::int64_t{job.overdue ? 1 : 0})
        .bind(job.account);
    if (auto done = q.run(); !done) return done;
  }
  if (db_->changes() == 0) return Ok{};  // insertIfAbsent: the stored row stands
  return labels_->replaceForJob(job.id, job.labels);
}

Status JobTable::remove(const std::string& id) {
  {
    Query q(*db_, delete_, "removing a job");
    q.bind(id);
    if (auto done = q.run(); !done) return done;
  }
  if (auto done = labels_->deleteForJob(id); !done) return done;
  Query q(*db_, delete_tombstone_, "removing a job");
  q.bind(id);
  return q.run();
}

Status JobTable::forget(const std::string& id, std::int64_t now_ms) {
  {
    Query q(*db_, insert_tombstone_, "forgetting a finished job");
    q.bind(id).bind(now_ms);
    if (auto ran = q.run(); !ran) return ran;
  }
  if (auto done = labels_->deleteForJob(id); !done) return done;
  Query q(*db_, delete_, "forgetting a finished job");
  q.bind(id);
  return q.run();
}

Result<std::vector<std::string>> JobTable::ids(sqlite::Statement& stmt, std::int64_t arg,
                                               const char* what) {
  std::vector<std::string> out;
  Query q(*db_, stmt, what);
  q.bind(arg);
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) break;
    out.push_back(q.text(0));
  }
  return out;
}

Result<std::vector<std::string>> JobTable::tombstones() {
  return ids(select_tombstones_, 0, "reading forgotten jobs");
}

}  // namespace jobwatch::state
