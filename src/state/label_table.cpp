// SPDX-License-Identifier: Apache-2.0
#include "state/label_table.h"

namespace jobwatch::state {

using sqlite::Query;

Status LabelTable::prepare(sqlite::Connection& db) {
  db_ = &db;
  struct Entry {
    sqlite::Statement* stmt;
    const char* sql;
  };
  const Entry entries[] = {
      {&delete_job_, "DELETE FROM job_labels WHERE job_id = ?1"},
      {&insert_job_, "INSERT INTO job_labels (job_id, key, value) VALUES (?1, ?2, ?3)"},
      {&insert_run_, "INSERT INTO run_labels (run_id, key, value) VALUES (?1, ?2, ?3)"},
      {&delete_finished_runs_,
       "DELETE FROM run_labels WHERE run_id IN "
       "(SELECT run_id FROM hook_runs WHERE job_id = ?1 AND state IN (2, 3))"},
  };
  for (const auto& entry : entries) {
    auto stmt = db.prepare(entry.sql);
    if (!stmt) return stmt.error();
    *entry.stmt = std::move(stmt).value();
  }
  return Ok{};
}

Status LabelTable::replaceForJob(const std::string& job_id, const status::Labels& labels) {
  if (auto deleted = deleteForJob(job_id); !deleted) return deleted;
  for (const auto& [key, value] : labels) {
    Query q(*db_, insert_job_, "saving a job's labels");
    q.bind(job_id).bind(key).bind(value);
    if (auto done = q.run(); !done) return done;
  }
  return Ok{};
}

Status LabelTable::deleteForJob(const std::string& job_id) {
  Query q(*db_, delete_job_, "deleting a job's labels");
  q.bind(job_id);
  return q.run();
}

Status LabelTable::insertForRun(std::int64_t run_id, const status::Labels& labels) {
  for (const auto& [key, value] : labels) {
    Query q(*db_, insert_run_, "recording a hook run's labels");
    q.bind(run_id).bind(key).bind(value);
    if (auto done = q.run(); !done) return done;
  }
  return Ok{};
}

Status LabelTable::deleteForFinishedRuns(const std::string& job_id) {
  Query q(*db_, delete_finished_runs_, "forgetting a finished job's hook runs");
  q.bind(job_id);
  return q.run();
}

void LabelTable::readJoined(const Query& q, int col, status::Labels& labels) {
  if (q.isNull(col)) return;
  labels.insert_or_assign(q.text(col), q.text(col + 1));
}

}  // namespace jobwatch::state
