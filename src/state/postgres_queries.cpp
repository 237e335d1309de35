// SPDX-License-Identifier: Apache-2.0
#include "state/postgres_queries.h"

#include <limits>
#include <optional>
#include <utility>

#include "state/result_table.h"
#include "state/stored_codes.h"

namespace jobwatch::state::pg_queries {
namespace {

using pg::Params;
using pg::Rows;
using stored::fromMs;

std::int64_t asLimit(size_t n) {
  constexpr auto kMax = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(n < kMax ? n : kMax);
}

status::JobFacts readFacts(const Rows& rows, int row, int first) {
  status::JobFacts f;
  f.status_raw = rows.text(row, first);
  f.type = rows.text(row, first + 1);
  f.pdf_name = rows.text(row, first + 2);
  f.pdf_hash = rows.text(row, first + 3);
  f.error = rows.text(row, first + 4);
  f.created_at = rows.text(row, first + 5);
  f.updated_at = rows.text(row, first + 6);
  return f;
}

Result<StoredJob> readJob(const Rows& rows, int i) {
  StoredJob job;
  job.id = rows.text(i, 0);
  const std::int64_t source = rows.int64(i, 1);
  if (source != stored::kSourceWatchFile && source != stored::kSourceDropDir) {
    return Error{"job " + job.id + " has an unknown source code " + std::to_string(source),
                 ErrorKind::kBadInput};
  }
  job.source = source == stored::kSourceDropDir ? JobSource::kDropDir : JobSource::kWatchFile;
  job.status = rows.text(i, 2);
  job.terminal = rows.int64(i, 3) != 0;
  job.facts = readFacts(rows, i, 4);
  job.last_body = rows.text(i, 11);
  job.added_at = fromMs(rows.int64(i, 12));
  if (auto terminal_at = rows.optionalInt64(i, 13)) job.terminal_at = fromMs(*terminal_at);
  job.consecutive_errors = static_cast<int>(rows.int64(i, 14));
  job.overdue = rows.int64(i, 15) != 0;
  job.account = rows.text(i, 16);
  return job;
}

std::optional<HookRunState> runState(std::int64_t code) {
  switch (code) {
    case stored::kStatePending:
      return HookRunState::kPending;
    case stored::kStateRunning:
      return HookRunState::kRunning;
    case stored::kStateSucceeded:
      return HookRunState::kSucceeded;
    case stored::kStateFailed:
      return HookRunState::kFailed;
    default:
      return std::nullopt;
  }
}

// The result columns (18..20) as SQLite's ledger reads them.
void readRunResult(const Rows& rows, int i, HookRun& run) {
  fillRunResult(run, rows.optionalInt64(i, 18), rows.text(i, 19), rows.text(i, 20));
}

Result<HookRun> readRun(const Rows& rows, int i) {
  HookRun run;
  run.run_id = rows.int64(i, 0);
  run.job_id = rows.text(i, 1);
  run.status = rows.text(i, 2);
  run.hook = rows.text(i, 3);
  run.previous_status = rows.text(i, 4);
  run.facts = readFacts(rows, i, 5);
  run.body = rows.text(i, 12);
  const auto state = runState(rows.int64(i, 13));
  if (!state) {
    return Error{
        "hook run " + std::to_string(run.run_id) + " has an unknown state code " + rows.text(i, 13),
        ErrorKind::kBadInput};
  }
  run.state = *state;
  run.attempts = static_cast<int>(rows.int64(i, 14));
  run.not_before = fromMs(rows.int64(i, 15));
  run.last_error = rows.text(i, 16);
  run.with_result = rows.int64(i, 17) != 0;
  run.account = rows.text(i, 21);
  readRunResult(rows, i, run);
  return run;
}

// Rows with a key in column `same` grouped into one value each, the label
// key and value in columns label_col and label_col+1 (NULL: no labels).
template <typename T, typename ReadFn, typename KeyFn>
Result<std::vector<T>> readGrouped(const Rows& rows, int label_col, ReadFn read, KeyFn key) {
  std::vector<T> out;
  std::string last;
  for (int i = 0; i < rows.size(); ++i) {
    const std::string k = key(i);
    if (out.empty() || k != last) {
      auto value = read(rows, i);
      if (!value) return value.error();
      out.push_back(std::move(value).value());
      last = k;
    }
    if (!rows.isNull(i, label_col)) {
      out.back().labels.insert_or_assign(rows.text(i, label_col), rows.text(i, label_col + 1));
    }
  }
  return out;
}

TransitionEntry readTransition(const Rows& rows, int i) {
  TransitionEntry t;
  t.job_id = rows.text(i, 0);
  t.from = rows.text(i, 1);
  t.to = rows.text(i, 2);
  t.at = fromMs(rows.int64(i, 3));
  t.updated_at = rows.text(i, 4);
  return t;
}

Result<std::vector<TransitionEntry>> readTransitions(Result<Rows> rows) {
  if (!rows) return rows.error();
  std::vector<TransitionEntry> out;
  out.reserve(static_cast<size_t>(rows->size()));
  for (int i = 0; i < rows->size(); ++i) out.push_back(readTransition(*rows, i));
  return out;
}

}  // namespace

std::string liveInstance(const std::string& alias, int lease_param) {
  return alias + ".heartbeat_at > now() - $" + std::to_string(lease_param) +
         "::bigint * interval '1 millisecond'";
}

std::int64_t runStateCode(HookRunState state) {
  switch (state) {
    case HookRunState::kPending:
      return stored::kStatePending;
    case HookRunState::kRunning:
      return stored::kStateRunning;
    case HookRunState::kSucceeded:
      return stored::kStateSucceeded;
    case HookRunState::kFailed:
      return stored::kStateFailed;
  }
  return stored::kStatePending;  // unreachable: every enumerator handled
}

Result<std::vector<StoredJob>> selectJobs(pg::Connection& db, const std::string& where,
                                          const Params& params) {
  auto rows = db.exec(
      "SELECT j.id, j.source, j.status, j.terminal, j.status_raw, j.type, j.pdf_name, "
      "j.pdf_hash, j.error, j.created_at, j.updated_at, j.last_body, j.added_at_ms, "
      "j.terminal_at_ms, j.consecutive_errors, j.overdue, j.account, l.key, l.value "
      "FROM jobs AS j LEFT JOIN job_labels AS l ON l.job_id = j.id WHERE " +
          where + " ORDER BY j.id, l.key",
      params, "loading jobs");
  if (!rows) return rows.error();
  const Rows& r = *rows;
  return readGrouped<StoredJob>(r, 17, readJob, [&r](int i) { return r.text(i, 0); });
}

Result<std::vector<HookRun>> selectRuns(pg::Connection& db, const std::string& where,
                                        const Params& params, const std::string& order,
                                        std::int64_t limit) {
  std::string runs = "SELECT * FROM hook_runs AS r WHERE " + where + " ORDER BY " + order;
  if (limit >= 0) runs += " LIMIT " + std::to_string(limit);
  auto rows = db.exec(
      "SELECT r.run_id, r.job_id, r.status, r.hook, r.previous_status, r.status_raw, r.type, "
      "r.pdf_name, r.pdf_hash, r.error, r.created_at, r.updated_at, r.body, r.state, "
      "r.attempts, r.not_before_ms, r.last_error, r.with_result, res.state, res.file, "
      "res.error, r.account, l.key, l.value FROM (" +
          runs +
          ") AS r LEFT JOIN results AS res ON res.job_id = r.job_id "
          "LEFT JOIN run_labels AS l ON l.run_id = r.run_id ORDER BY " +
          order + ", l.key",
      params, "reading hook runs");
  if (!rows) return rows.error();
  const Rows& r = *rows;
  return readGrouped<HookRun>(r, 22, readRun, [&r](int i) { return r.text(i, 0); });
}

Result<std::vector<ResultRecord>> selectResults(pg::Connection& db, const std::string& where,
                                                const Params& params) {
  auto rows = db.exec(
      "SELECT r.job_id, r.state, r.file, r.error, r.attempts, r.since_ms, r.next_try_ms, "
      "COALESCE(j.account, 'default') FROM results AS r LEFT JOIN jobs AS j ON j.id = r.job_id "
      "WHERE " +
          where + " ORDER BY r.next_try_ms, r.job_id",
      params, "reading results");
  if (!rows) return rows.error();
  std::vector<ResultRecord> out;
  for (int i = 0; i < rows->size(); ++i) {
    ResultRecord record;
    record.job_id = rows->text(i, 0);
    const std::int64_t code = rows->int64(i, 1);
    if (code < 0 || code > 2) {
      return Error{
          "result of job " + record.job_id + " has an unknown state code " + std::to_string(code),
          ErrorKind::kBadInput};
    }
    record.state =
        code == 0 ? ResultState::kPending : (code == 1 ? ResultState::kDone : ResultState::kGaveUp);
    record.file = rows->text(i, 2);
    record.error = rows->text(i, 3);
    record.attempts = static_cast<int>(rows->int64(i, 4));
    record.since = fromMs(rows->int64(i, 5));
    record.next_try = fromMs(rows->int64(i, 6));
    record.account = rows->text(i, 7);
    out.push_back(std::move(record));
  }
  return out;
}

Result<std::vector<TransitionEntry>> transitions(pg::Connection& db, const std::string& job_id) {
  return readTransitions(
      db.exec("SELECT job_id, from_status, to_status, at_ms, updated_at FROM job_transitions "
              "WHERE job_id = $1 ORDER BY seq",
              {job_id}, "reading a job's transitions"));
}

Result<std::vector<TransitionEntry>> recentTransitions(pg::Connection& db, size_t limit) {
  return readTransitions(
      db.exec("SELECT job_id, from_status, to_status, at_ms, updated_at FROM job_transitions "
              "ORDER BY seq DESC LIMIT $1",
              {pg::param(asLimit(limit))}, "reading recent transitions"));
}

Result<std::vector<HookAttempt>> attempts(pg::Connection& db, const std::string& job_id) {
  auto rows = db.exec(
      "SELECT run_id, job_id, status, hook, attempt, started_ms, duration_ms, exit_code, "
      "signal, result, output FROM hook_attempts WHERE job_id = $1 ORDER BY seq",
      {job_id}, "reading a job's hook attempts");
  if (!rows) return rows.error();
  std::vector<HookAttempt> out;
  for (int i = 0; i < rows->size(); ++i) {
    HookAttempt a;
    a.run_id = rows->int64(i, 0);
    a.job_id = rows->text(i, 1);
    a.status = rows->text(i, 2);
    a.hook = rows->text(i, 3);
    a.attempt = static_cast<int>(rows->int64(i, 4));
    a.started = fromMs(rows->int64(i, 5));
    a.duration = std::chrono::milliseconds(rows->int64(i, 6));
    if (auto code = rows->optionalInt64(i, 7)) a.exit_code = static_cast<int>(*code);
    a.signal = rows->text(i, 8);
    a.result = rows->text(i, 9);
    a.output = rows->text(i, 10);
    out.push_back(std::move(a));
  }
  return out;
}

Result<size_t> countRuns(pg::Connection& db, HookRunState state) {
  auto rows = db.exec("SELECT count(*) FROM hook_runs WHERE state = $1",
                      {pg::param(runStateCode(state))}, "counting hook runs");
  if (!rows) return rows.error();
  return static_cast<size_t>(rows->int64(0, 0));
}

Result<std::vector<FleetMember>> members(pg::Connection& db, const std::string& self) {
  auto rows = db.exec(
      "SELECT i.incarnation, i.instance, i.started_ms, "
      "(extract(epoch FROM i.heartbeat_at) * 1000)::bigint, "
      "(SELECT count(*) FROM jobs AS j WHERE j.owner = i.incarnation) "
      "FROM instances AS i ORDER BY i.instance, i.incarnation",
      "listing the fleet");
  if (!rows) return rows.error();
  std::vector<FleetMember> out;
  for (int i = 0; i < rows->size(); ++i) {
    FleetMember m;
    m.incarnation = rows->text(i, 0);
    m.instance = rows->text(i, 1);
    m.started = stored::fromMs(rows->int64(i, 2));
    m.heartbeat = stored::fromMs(rows->int64(i, 3));
    m.jobs_held = static_cast<size_t>(rows->int64(i, 4));
    m.self = !self.empty() && m.incarnation == self;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace jobwatch::state::pg_queries
