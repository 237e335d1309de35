// SPDX-License-Identifier: Apache-2.0
// PostgresStateStore: apply() with its fencing, and the job reads.
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "state/postgres_queries.h"
#include "state/postgres_store_impl.h"
#include "state/result_table.h"
#include "state/stored_codes.h"

namespace jobwatch::state {
namespace {

using pg::param;
using pg::Params;
using stored::floorMs;

constexpr const char* kJobColumns =
    "id, source, status, terminal, status_raw, type, pdf_name, pdf_hash, error, created_at, "
    "updated_at, last_body, added_at_ms, terminal_at_ms, consecutive_errors, overdue, account";

// The job's values in kJobColumns order ($1..$17).
Params jobParams(const StoredJob& job) {
  std::optional<std::int64_t> terminal_at;
  if (job.terminal_at != WallTime{}) terminal_at = floorMs(job.terminal_at);
  const auto& f = job.facts;
  return {
      job.id,
      param(job.source == JobSource::kDropDir ? stored::kSourceDropDir : stored::kSourceWatchFile),
      job.status,
      param(std::int64_t{job.terminal ? 1 : 0}),
      f.status_raw,
      f.type,
      f.pdf_name,
      f.pdf_hash,
      f.error,
      f.created_at,
      f.updated_at,
      job.last_body,
      param(floorMs(job.added_at)),
      param(terminal_at),
      param(std::int64_t{job.consecutive_errors}),
      param(std::int64_t{job.overdue ? 1 : 0}),
      job.account};
}

}  // namespace

Result<std::vector<StoredJob>> PostgresStateStore::loadJobs() {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  auto jobs = pg_queries::selectJobs(*db_, "j.owner = $1", {incarnation_});
  if (!jobs) return jobs.error();
  held_.clear();
  for (const auto& job : *jobs) held_.insert(job.id);
  return jobs;
}

Status PostgresStateStore::apply(const std::vector<WriteBatch>& batches) {
  std::lock_guard lock(mu_);
  bool any = false;
  for (const auto& batch : batches) any = any || !batch.empty();
  if (!any) return Ok{};
  if (auto s = session(); !s) return s;
  const std::int64_t now_ms = floorMs(clock_.wallNow());
  Status done = pg::transaction(*db_, [&]() -> Status {
    for (const auto& batch : batches) {
      if (auto applied = applyBatch(batch, now_ms); !applied) return applied;
    }
    return Ok{};
  });
  if (!done) return done;
  // Jobs forgotten or removed are no longer held (nor lost).
  for (const auto& batch : batches) {
    for (const auto& id : batch.forgotten) held_.erase(id);
    for (const auto& id : batch.removed) held_.erase(id);
  }
  return Ok{};
}

Result<bool> PostgresStateStore::holds(const std::string& id) {
  auto rows = db_->exec(
      "SELECT 1 FROM jobs AS j WHERE j.id = $1 AND j.owner = $2 AND EXISTS (SELECT 1 FROM "
      "instances AS i WHERE i.incarnation = $2 AND " +
          pg_queries::liveInstance("i", 3) + ") FOR UPDATE OF j",
      {id, incarnation_, leaseParam()}, "checking who holds a job");
  if (!rows) return rows.error();
  return rows->size() > 0;
}

// Within a batch: registered, jobs, new_runs, results, transitions,
// forgotten, removed; everything of a job this process does not hold is
// skipped (fenced).
Status PostgresStateStore::applyBatch(const WriteBatch& batch, std::int64_t now_ms) {
  std::map<std::string, bool> held;
  Status failed = Ok{};
  const auto mine = [&](const std::string& id) {
    auto it = held.find(id);
    if (it != held.end()) return it->second;
    auto got = holds(id);
    if (!got) {
      failed = got.error();
      return false;
    }
    return held.emplace(id, *got).first->second;
  };
  for (const auto& job : batch.registered) {
    // A forgotten watch-file job keeps its tombstone: never watched again.
    auto gone =
        db_->exec("SELECT 1 FROM forgotten_jobs WHERE id = $1", {job.id}, "registering a job");
    if (!gone) return gone.error();
    if (gone->size() > 0) continue;
    auto rows = db_->exec(std::string("INSERT INTO jobs (") + kJobColumns +
                              ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
                              "$14, $15, $16, $17) ON CONFLICT (id) DO NOTHING RETURNING id",
                          jobParams(job), "registering a job");
    if (!rows) return rows.error();
    if (rows->size() > 0) {
      if (auto done = writeLabels(job.id, job.labels); !done) return done;
    }
  }
  for (const auto& job : batch.jobs) {
    if (mine(job.id)) {
      if (auto done = upsertJob(job); !done) return done;
    }
    if (!failed) return failed;
  }
  for (const auto& run : batch.new_runs) {
    if (mine(run.job_id)) {
      if (auto done = insertRun(run, now_ms); !done) return done;
    }
    if (!failed) return failed;
  }
  for (const auto& result : batch.results) {
    if (mine(result.job_id)) {
      if (auto done = upsertResult(result, now_ms); !done) return done;
    }
    if (!failed) return failed;
  }
  for (const auto& entry : batch.transitions) {
    if (mine(entry.job_id)) {
      if (auto done = addTransition(entry); !done) return done;
    }
    if (!failed) return failed;
  }
  for (const auto& id : batch.forgotten) {
    if (mine(id)) {
      if (auto done = forgetJob(id, now_ms); !done) return done;
    }
    if (!failed) return failed;
  }
  for (const auto& id : batch.removed) {
    if (auto done = removeJob(id); !done) return done;
  }
  return Ok{};
}

Status PostgresStateStore::upsertJob(const StoredJob& job) {
  // The row exists and is ours (holds()); account is never changed.
  Params params = jobParams(job);
  params.pop_back();
  auto rows = db_->exec(
      "UPDATE jobs SET source = $2, status = $3, terminal = $4, status_raw = $5, type = $6, "
      "pdf_name = $7, pdf_hash = $8, error = $9, created_at = $10, updated_at = $11, "
      "last_body = CASE WHEN $12 = '' THEN last_body ELSE $12 END, added_at_ms = $13, "
      "terminal_at_ms = $14, consecutive_errors = $15, overdue = $16 WHERE id = $1",
      params, "saving a job");
  if (!rows) return rows.error();
  return writeLabels(job.id, job.labels);
}

Status PostgresStateStore::writeLabels(const std::string& job_id, const status::Labels& labels) {
  auto deleted =
      db_->exec("DELETE FROM job_labels WHERE job_id = $1", {job_id}, "saving a job's labels");
  if (!deleted) return deleted.error();
  for (const auto& [key, value] : labels) {
    auto done = db_->exec("INSERT INTO job_labels (job_id, key, value) VALUES ($1, $2, $3)",
                          {job_id, key, value}, "saving a job's labels");
    if (!done) return done.error();
  }
  return Ok{};
}

Status PostgresStateStore::insertRun(const HookRun& run, std::int64_t now_ms) {
  const auto& f = run.facts;
  auto rows = db_->exec(
      "INSERT INTO hook_runs (job_id, status, hook, previous_status, status_raw, type, "
      "pdf_name, pdf_hash, error, created_at, updated_at, body, state, attempts, not_before_ms, "
      "last_error, created_ms, updated_ms, with_result, account) VALUES ($1, $2, $3, $4, $5, $6, "
      "$7, $8, $9, $10, $11, COALESCE(NULLIF($12::text, ''), (SELECT last_body FROM jobs WHERE "
      "id = $1), ''), 0, $13, $14, $15, $16, $16, $17, $18) "
      "ON CONFLICT (job_id, status, hook) DO NOTHING RETURNING run_id",
      {run.job_id, run.status, run.hook, run.previous_status, f.status_raw, f.type, f.pdf_name,
       f.pdf_hash, f.error, f.created_at, f.updated_at, run.body, param(std::int64_t{run.attempts}),
       param(stored::ceilMs(run.not_before)), run.last_error, param(now_ms),
       param(std::int64_t{run.with_result ? 1 : 0}), run.account},
      "recording a hook run");
  if (!rows) return rows.error();
  if (rows->size() == 0) return Ok{};  // recorded before: the first one stands
  const std::string run_id = rows->text(0, 0);
  for (const auto& [key, value] : run.labels) {
    auto done = db_->exec("INSERT INTO run_labels (run_id, key, value) VALUES ($1, $2, $3)",
                          {run_id, key, value}, "recording a hook run's labels");
    if (!done) return done.error();
  }
  return Ok{};
}

Status PostgresStateStore::upsertResult(const ResultRecord& r, std::int64_t now_ms) {
  auto rows = db_->exec(
      "INSERT INTO results (job_id, state, file, error, attempts, since_ms, next_try_ms, "
      "updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (job_id) DO UPDATE SET "
      "state = excluded.state, file = excluded.file, error = excluded.error, "
      "attempts = GREATEST(results.attempts, excluded.attempts), "
      "next_try_ms = excluded.next_try_ms, updated_ms = excluded.updated_ms "
      "WHERE results.state = 0",
      {r.job_id, param(resultStateCode(r.state)), r.file, r.error, param(std::int64_t{r.attempts}),
       param(floorMs(r.since)), param(floorMs(r.next_try)), param(now_ms)},
      "recording a job's result");
  if (!rows) return rows.error();
  return Ok{};
}

Status PostgresStateStore::trimHistory(const char* table, const std::string& job_id) {
  // Keeps the newest kHistoryPerJob rows of the job.
  const std::string t(table);
  auto rows = db_->exec("DELETE FROM " + t + " WHERE job_id = $1 AND seq <= (SELECT seq FROM " + t +
                            " WHERE job_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
                        {job_id, param(static_cast<std::int64_t>(kHistoryPerJob))},
                        "trimming a job's history");
  if (!rows) return rows.error();
  return Ok{};
}

Status PostgresStateStore::addTransition(const TransitionEntry& e) {
  auto rows = db_->exec(
      "INSERT INTO job_transitions (job_id, from_status, to_status, at_ms, updated_at) "
      "VALUES ($1, $2, $3, $4, $5)",
      {e.job_id, e.from, e.to, param(floorMs(e.at)), e.updated_at}, "recording a transition");
  if (!rows) return rows.error();
  return trimHistory("job_transitions", e.job_id);
}

Status PostgresStateStore::forgetJob(const std::string& id, std::int64_t now_ms) {
  const char* what = "forgetting a finished job";
  // On its own: a literal split over lines inside the array reads to
  // clang-tidy as a missing comma (bugprone-suspicious-missing-comma).
  const char* run_labels =
      "DELETE FROM run_labels WHERE run_id IN (SELECT run_id FROM hook_runs WHERE job_id = $1 "
      "AND state IN (2, 3))";
  const char* statements[] = {
      run_labels,
      "DELETE FROM hook_runs WHERE job_id = $1 AND state IN (2, 3)",
      "DELETE FROM results WHERE job_id = $1",
      "DELETE FROM job_transitions WHERE job_id = $1",
      "DELETE FROM hook_attempts WHERE job_id = $1",
      "DELETE FROM job_labels WHERE job_id = $1",
  };
  for (const char* sql : statements) {
    if (auto done = db_->exec(sql, {id}, what); !done) return done.error();
  }
  auto tombstone = db_->exec(
      "INSERT INTO forgotten_jobs (id, forgotten_at_ms) SELECT id, $2 FROM jobs "
      "WHERE id = $1 AND source = 0 ON CONFLICT (id) DO UPDATE SET "
      "forgotten_at_ms = excluded.forgotten_at_ms",
      {id, param(now_ms)}, what);
  if (!tombstone) return tombstone.error();
  auto deleted = db_->exec("DELETE FROM jobs WHERE id = $1", {id}, what);
  if (!deleted) return deleted.error();
  return Ok{};
}

Status PostgresStateStore::removeJob(const std::string& id) {
  // A free job (nobody holds it yet) may be removed too; another's is fenced.
  auto deleted = db_->exec(
      "DELETE FROM jobs AS j WHERE j.id = $1 AND (j.owner IS NULL OR j.owner = $2) AND EXISTS "
      "(SELECT 1 FROM instances AS i WHERE i.incarnation = $2 AND " +
          pg_queries::liveInstance("i", 3) + ") RETURNING j.id",
      {id, incarnation_, leaseParam()}, "removing a job");
  if (!deleted) return deleted.error();
  if (deleted->size() > 0) {  // no longer watched: its labels and history go too
    for (const char* sql : {"DELETE FROM job_labels WHERE job_id = $1",
                            "DELETE FROM job_transitions WHERE job_id = $1",
                            "DELETE FROM hook_attempts WHERE job_id = $1"}) {
      if (auto done = db_->exec(sql, {id}, "removing a job"); !done) return done.error();
    }
  }
  auto tombstone = db_->exec("DELETE FROM forgotten_jobs WHERE id = $1", {id}, "removing a job");
  if (!tombstone) return tombstone.error();
  return Ok{};
}

}  // namespace jobwatch::state
