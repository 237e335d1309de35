// SPDX-License-Identifier: Apache-2.0
#include "state/hook_ledger.h"

#include <utility>

#include "state/result_table.h"
#include "state/stored_codes.h"

namespace jobwatch::state {

using sqlite::Query;
using namespace stored;

namespace {

constexpr const char* kColumns =
    "run_id, job_id, status, hook, previous_status, status_raw, type, pdf_name, pdf_hash, "
    "error, created_at, updated_at, body, state, attempts, not_before_ms, last_error, "
    "with_result, account";
constexpr int kLabelColumn = 22;  // after kColumns and the result's, in the joined selects

// A with_result run waits while its job's result is pending (SPEC "Results").
constexpr const char* kResultSettled =
    "(with_result = 0 OR NOT EXISTS (SELECT 1 FROM results AS x "
    "WHERE x.job_id = hook_runs.job_id AND x.state = 0))";

// Rows of `runs` (a subquery of hook_runs) with their labels, in `order`.
std::string joinedSelect(const std::string& runs, const std::string& order) {
  return "SELECT r.run_id, r.job_id, r.status, r.hook, r.previous_status, r.status_raw, r.type, "
         "r.pdf_name, r.pdf_hash, r.error, r.created_at, r.updated_at, r.body, r.state, "
         "r.attempts, r.not_before_ms, r.last_error, r.with_result, res.state, res.file, "
         "res.error, r.account, l.key, l.value FROM (" +
         runs +
         ") AS r LEFT JOIN results AS res ON res.job_id = r.job_id "
         "LEFT JOIN run_labels AS l ON l.run_id = r.run_id ORDER BY " +
         order + ", l.key";
}

const char* stateName(std::int64_t code) {
  switch (code) {
    case kStatePending:
      return "pending";
    case kStateRunning:
      return "running";
    case kStateSucceeded:
      return "succeeded";
    case kStateFailed:
      return "failed";
    default:
      return "unknown";
  }
}

std::int64_t stateCode(HookRunState state) {
  switch (state) {
    case HookRunState::kPending:
      return kStatePending;
    case HookRunState::kRunning:
      return kStateRunning;
    case HookRunState::kSucceeded:
      return kStateSucceeded;
    case HookRunState::kFailed:
      return kStateFailed;
  }
  return kStatePending;  // unreachable: every enumerator handled
}

std::optional<HookRunState> stateFromCode(std::int64_t code) {
  switch (code) {
    case kStatePending:
      return HookRunState::kPending;
    case kStateRunning:
      return HookRunState::kRunning;
    case kStateSucceeded:
      return HookRunState::kSucceeded;
    case kStateFailed:
      return HookRunState::kFailed;
    default:
      return std::nullopt;
  }
}

}  // namespace

Status HookLedger::prepare(sqlite::Connection& db, LabelTable& labels) {
  db_ = &db;
  labels_ = &labels;
  const std::string cols(kColumns);
  struct Entry {
    sqlite::Statement* stmt;
    std::string sql;
  };
  const Entry entries[] = {
      {&insert_,
       "INSERT INTO hook_runs (job_id, status, hook, previous_status, status_raw, type, "
       "pdf_name, pdf_hash, error, created_at, updated_at, body, state, attempts, "
       "not_before_ms, last_error, created_ms, updated_ms, with_result, account) VALUES (?1, ?2, "
       "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
       "COALESCE(NULLIF(?12, ''), (SELECT last_body FROM jobs WHERE id = ?1), ''), "
       "0, ?13, ?14, ?15, ?16, ?16, ?17, ?18) "
       "ON CONFLICT (job_id, status, hook) DO NOTHING"},
      {&recover_,
       "UPDATE hook_runs SET state = 0, not_before_ms = 0, updated_ms = ?1 WHERE state = 1"},
      {&select_due_, joinedSelect("SELECT " + cols +
                                      " FROM hook_runs WHERE state = 0 AND not_before_ms <= ?1 "
                                      "AND " +
                                      kResultSettled + " ORDER BY not_before_ms, run_id LIMIT ?2",
                                  "r.not_before_ms, r.run_id")},
      {&claim_,
       "UPDATE hook_runs SET state = 1, attempts = attempts + 1, updated_ms = ?1 "
       "WHERE run_id = ?2 AND state = 0"},
      {&finish_,
       "UPDATE hook_runs SET state = ?1, not_before_ms = coalesce(?2, not_before_ms), "
       "last_error = ?3, updated_ms = ?4 WHERE run_id = ?5 AND state = 1"},
      {&release_,
       "UPDATE hook_runs SET state = 0, not_before_ms = 0, updated_ms = ?1 "
       "WHERE run_id = ?2 AND state = 1"},
      {&state_of_, "SELECT state FROM hook_runs WHERE run_id = ?1"},
      {&next_pending_,
       std::string("SELECT min(not_before_ms) FROM hook_runs WHERE state = 0 AND ") +
           kResultSettled},
      {&count_, "SELECT count(*) FROM hook_runs WHERE state = ?1"},
      {&for_job_, joinedSelect("SELECT " + cols + " FROM hook_runs WHERE job_id = ?1", "r.run_id")},
      {&recent_, joinedSelect("SELECT " + cols +
                                  ", updated_ms FROM hook_runs WHERE state = ?1 "
                                  "ORDER BY updated_ms DESC, run_id DESC LIMIT ?2",
                              "r.updated_ms DESC, r.run_id DESC")},
      {&delete_finished_, "DELETE FROM hook_runs WHERE job_id = ?1 AND state IN (2, 3)"},
      {&failed_of_event_, joinedSelect("SELECT " + cols +
                                           " FROM hook_runs WHERE state = 3 AND job_id = ?1 "
                                           "AND status = ?2",
                                       "r.run_id")},
      {&failed_all_,
       joinedSelect("SELECT " + cols + " FROM hook_runs WHERE state = 3", "r.run_id")},
      {&requeue_,
       "UPDATE hook_runs SET state = 0, not_before_ms = ?1, last_error = '', updated_ms = ?1 "
       "WHERE run_id = ?2 AND state = 3"},
      {&in_state_, joinedSelect("SELECT " + cols +
                                    " FROM hook_runs WHERE state = ?1 ORDER BY updated_ms DESC, "
                                    "run_id DESC LIMIT ?2",
                                "r.run_id DESC")},
  };
  for (const auto& entry : entries) {
    auto stmt = db.prepare(entry.sql);
    if (!stmt) return stmt.error();
    *entry.stmt = std::move(stmt).value();
  }
  return Ok{};
}

Status HookLedger::insert(const HookRun& run, std::int64_t now_ms) {
  {
    Query q(*db_, insert_, "recording a hook run");
    q.bind(run.job_id).bind(run.status).bind(run.hook).bind(run.previous_status);
    bindFacts(q, run.facts)
        .bind(run.body)
        .bind(std::int64_t{run.attempts})
        .bind(ceilMs(run.not_before))
        .bind(run.last_error)
        .bind(now_ms)
        .bind(std::int64_t{run.with_result ? 1 : 0})
        .bind(run.account);
    if (auto done = q.run(); !done) return done;
  }
  if (db_->changes() == 0) return Ok{};  // recorded before: the first one stands
  return labels_->insertForRun(db_->lastInsertRowid(), run.labels);
}

Result<size_t> HookLedger::recoverInterrupted(std::int64_t now_ms) {
  Query q(*db_, recover_, "recovering interrupted hook runs");
  q.bind(now_ms);
  if (auto ran = q.run(); !ran) return ran.error();
  return static_cast<size_t>(db_->changes());
}

Result<std::vector<HookRun>> HookLedger::claimDue(std::int64_t due_ms, std::int64_t limit,
                                                  std::int64_t now_ms) {
  std::vector<HookRun> runs;
  {
    Query q(*db_, select_due_, "claiming due hook runs");
    q.bind(due_ms).bind(limit);
    auto read = readAll(q);
    if (!read) return read.error();
    runs = std::move(read).value();
  }
  for (auto& run : runs) {
    Query q(*db_, claim_, "claiming due hook runs");
    q.bind(now_ms).bind(run.run_id);
    if (auto ran = q.run(); !ran) return ran.error();
    run.state = HookRunState::kRunning;
    ++run.attempts;
  }
  return runs;
}

Status HookLedger::finish(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                          const std::string& last_error, std::int64_t now_ms) {
  std::int64_t state = kStateFailed;
  std::optional<std::int64_t> not_before;
  switch (outcome) {
    case RunOutcome::kSucceeded:
      state = kStateSucceeded;
      break;
    case RunOutcome::kFailed:
      state = kStateFailed;
      break;
    case RunOutcome::kRetry:
      state = kStatePending;
      not_before = ceilMs(retry_at);
      break;
  }
  {
    Query q(*db_, finish_, "recording a hook run's outcome");
    q.bind(state).bind(not_before).bind(last_error).bind(now_ms).bind(run_id);
    if (auto ran = q.run(); !ran) return ran;
  }
  if (db_->changes() == 0) return notRunning(run_id, "outcome");
  return Ok{};
}

Status HookLedger::release(std::int64_t run_id, std::int64_t now_ms) {
  {
    Query q(*db_, release_, "releasing a hook run");
    q.bind(now_ms).bind(run_id);
    if (auto ran = q.run(); !ran) return ran;
  }
  if (db_->changes() == 0) return notRunning(run_id, "release");
  return Ok{};
}

Status HookLedger::deleteFinished(const std::string& job_id) {
  if (auto done = labels_->deleteForFinishedRuns(job_id); !done) return done;
  Query q(*db_, delete_finished_, "forgetting a finished job");
  q.bind(job_id);
  return q.run();
}

Result<std::vector<HookRun>> HookLedger::retryFailed(const std::string& job_id,
                                                     const std::string& status,
                                                     std::int64_t now_ms) {
  std::vector<HookRun> runs;
  {
    Query q(*db_, job_id.empty() ? failed_all_ : failed_of_event_, "finding failed hook runs");
    if (!job_id.empty()) q.bind(job_id).bind(status);
    auto read = readAll(q);
    if (!read) return read.error();
    runs = std::move(read).value();
  }
  for (auto& run : runs) {
    Query q(*db_, requeue_, "queueing a hook run again");
    q.bind(now_ms).bind(run.run_id);
    if (auto ran = q.run(); !ran) return ran.error();
    run.state = HookRunState::kPending;
    run.not_before = fromMs(now_ms);
    run.last_error.clear();
  }
  return runs;
}

Result<std::vector<HookRun>> HookLedger::inState(HookRunState state, std::int64_t limit) {
  Query q(*db_, in_state_, "listing hook runs");
  q.bind(stateCode(state)).bind(limit);
  return readAll(q);
}

Result<std::optional<WallTime>> HookLedger::nextPendingAt() {
  Query q(*db_, next_pending_, "looking for pending hook runs");
  auto row = q.step();
  if (!row) return row.error();
  std::optional<WallTime> next;
  if (*row) {
    if (auto ms = q.optionalInt64(0)) next = fromMs(*ms);
  }
  return next;
}

Result<size_t> HookLedger::count(HookRunState state) {
  Query q(*db_, count_, "counting hook runs");
  q.bind(stateCode(state));
  auto row = q.step();
  if (!row) return row.error();
  return *row ? static_cast<size_t>(q.int64(0)) : size_t{0};
}

Result<std::vector<HookRun>> HookLedger::forJob(const std::string& job_id) {
  Query q(*db_, for_job_, "reading a job's hook runs");
  q.bind(job_id);
  return readAll(q);
}

Result<std::vector<HookRun>> HookLedger::recent(HookRunState state, size_t limit) {
  Query q(*db_, recent_, "reading recent hook runs");
  q.bind(stateCode(state)).bind(static_cast<std::int64_t>(limit));
  return readAll(q);
}

Result<std::vector<HookRun>> HookLedger::readAll(Query& q) const {
  return LabelTable::readGrouped<HookRun>(
      q, kLabelColumn,
      [](const HookRun& run, const Query& row) { return run.run_id == row.int64(0); },
      [this](const Query& row) { return read(row); });
}

Result<HookRun> HookLedger::read(const Query& q) const {
  HookRun run;
  run.run_id = q.int64(0);
  run.job_id = q.text(1);
  run.status = q.text(2);
  run.hook = q.text(3);
  run.previous_status = q.text(4);
  run.facts = readFacts(q, 5);
  run.body = q.text(12);
  const auto state = stateFromCode(q.int64(13));
  if (!state) {
    return db_->error("hook run " + std::to_string(run.run_id) + " has an unknown state code " +
                      std::to_string(q.int64(13)));
  }
  run.state = *state;
  run.attempts = static_cast<int>(q.int64(14));
  run.not_before = fromMs(q.int64(15));
  run.last_error = q.text(16);
  run.with_result = q.int64(17) != 0;
  run.account = q.text(21);
  fillRunResult(run, q.optionalInt64(18), q.text(19), q.text(20));
  return run;
}

// Why finish/release changed nothing: a caller bug worth a clear message.
Error HookLedger::notRunning(std::int64_t run_id, std::string_view action) {
  const std::string what = "hook run " + std::to_string(run_id);
  Query q(*db_, state_of_, "looking up a hook run");
  q.bind(run_id);
  auto row = q.step();
  if (!row) return row.error();
  if (!*row) return db_->error(what + " does not exist; " + std::string(action) + " not recorded");
  return db_->error(what + " is not running (it is " + stateName(q.int64(0)) + "); " +
                    std::string(action) + " not recorded");
}

}  // namespace jobwatch::state
