// SPDX-License-Identifier: Apache-2.0
#include "state/job_history.h"

#include <limits>

#include "state/stored_codes.h"

namespace jobwatch::state {

using sqlite::Query;
using stored::floorMs;
using stored::fromMs;

namespace {

std::int64_t asLimit(size_t n) {
  constexpr auto kMax = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(n < kMax ? n : kMax);
}

TransitionEntry readTransition(const Query& q) {
  TransitionEntry t;
  t.job_id = q.text(0);
  t.from = q.text(1);
  t.to = q.text(2);
  t.at = fromMs(q.int64(3));
  t.updated_at = q.text(4);
  return t;
}

}  // namespace

Status JobHistory::prepare(sqlite::Connection& db) {
  db_ = &db;
  struct Entry {
    sqlite::Statement* stmt;
    const char* sql;
  };
  const Entry entries[] = {
      {&insert_transition_,
       "INSERT INTO job_transitions (job_id, from_status, to_status, at_ms, updated_at) "
       "VALUES (?1, ?2, ?3, ?4, ?5)"},
      // Keeps the newest ?2 rows of the job (the index makes this a short scan).
      {&trim_transitions_,
       "DELETE FROM job_transitions WHERE job_id = ?1 AND seq <= (SELECT seq FROM "
       "job_transitions WHERE job_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)"},
      {&insert_attempt_,
       // Only while the job is known: a run that ends after its job was
       // forgotten or removed leaves no history nobody could read or delete.
       "INSERT INTO hook_attempts (run_id, job_id, status, hook, attempt, started_ms, "
       "duration_ms, exit_code, signal, result, output) "
       "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 "
       "WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?2)"},
      {&trim_attempts_,
       "DELETE FROM hook_attempts WHERE job_id = ?1 AND seq <= (SELECT seq FROM "
       "hook_attempts WHERE job_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)"},
      {&forget_transitions_, "DELETE FROM job_transitions WHERE job_id = ?1"},
      {&forget_attempts_, "DELETE FROM hook_attempts WHERE job_id = ?1"},
      {&select_transitions_,
       "SELECT job_id, from_status, to_status, at_ms, updated_at FROM job_transitions "
       "WHERE job_id = ?1 ORDER BY seq"},
      {&select_attempts_,
       "SELECT run_id, job_id, status, hook, attempt, started_ms, duration_ms, exit_code, "
       "signal, result, output FROM hook_attempts WHERE job_id = ?1 ORDER BY seq"},
      {&select_recent_,
       "SELECT job_id, from_status, to_status, at_ms, updated_at FROM job_transitions "
       "ORDER BY seq DESC LIMIT ?1"},
  };
  for (const auto& entry : entries) {
    auto stmt = db.prepare(entry.sql);
    if (!stmt) return stmt.error();
    *entry.stmt = std::move(stmt).value();
  }
  return Ok{};
}

Status JobHistory::addTransition(const TransitionEntry& e, size_t keep) {
  {
    Query q(*db_, insert_transition_, "recording a transition");
    q.bind(e.job_id).bind(e.from).bind(e.to).bind(floorMs(e.at)).bind(e.updated_at);
    if (auto done = q.run(); !done) return done;
  }
  Query trim(*db_, trim_transitions_, "trimming a job's transitions");
  trim.bind(e.job_id).bind(asLimit(keep));
  return trim.run();
}

Status JobHistory::addAttempt(const HookAttempt& a, size_t keep) {
  {
    Query q(*db_, insert_attempt_, "recording a hook attempt");
    std::optional<std::int64_t> code;
    if (a.exit_code) code = *a.exit_code;
    q.bind(a.run_id)
        .bind(a.job_id)
        .bind(a.status)
        .bind(a.hook)
        .bind(std::int64_t{a.attempt})
        .bind(floorMs(a.started))
        .bind(static_cast<std::int64_t>(a.duration.count()))
        .bind(code)
        .bind(a.signal)
        .bind(a.result)
        .bind(a.output);
    if (auto done = q.run(); !done) return done;
  }
  Query trim(*db_, trim_attempts_, "trimming a job's hook attempts");
  trim.bind(a.job_id).bind(asLimit(keep));
  return trim.run();
}

Status JobHistory::forget(const std::string& job_id) {
  {
    Query q(*db_, forget_transitions_, "forgetting a job's transitions");
    q.bind(job_id);
    if (auto done = q.run(); !done) return done;
  }
  Query q(*db_, forget_attempts_, "forgetting a job's hook attempts");
  q.bind(job_id);
  return q.run();
}

Result<std::vector<TransitionEntry>> JobHistory::transitions(const std::string& job_id) {
  std::vector<TransitionEntry> out;
  Query q(*db_, select_transitions_, "reading a job's transitions");
  q.bind(job_id);
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return out;
    out.push_back(readTransition(q));
  }
}

Result<std::vector<HookAttempt>> JobHistory::attempts(const std::string& job_id) {
  std::vector<HookAttempt> out;
  Query q(*db_, select_attempts_, "reading a job's hook attempts");
  q.bind(job_id);
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return out;
    HookAttempt a;
    a.run_id = q.int64(0);
    a.job_id = q.text(1);
    a.status = q.text(2);
    a.hook = q.text(3);
    a.attempt = static_cast<int>(q.int64(4));
    a.started = fromMs(q.int64(5));
    a.duration = std::chrono::milliseconds(q.int64(6));
    if (auto code = q.optionalInt64(7)) a.exit_code = static_cast<int>(*code);
    a.signal = q.text(8);
    a.result = q.text(9);
    a.output = q.text(10);
    out.push_back(std::move(a));
  }
}

Result<std::vector<TransitionEntry>> JobHistory::recentTransitions(size_t limit) {
  std::vector<TransitionEntry> out;
  Query q(*db_, select_recent_, "reading recent transitions");
  q.bind(asLimit(limit));
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return out;
    out.push_back(readTransition(q));
  }
}

}  // namespace jobwatch::state
