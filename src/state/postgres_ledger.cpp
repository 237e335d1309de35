// SPDX-License-Identifier: Apache-2.0
// PostgresStateStore: the hook ledger (claims carry this process as owner;
// finishing and releasing touch only runs it still holds).
#include <limits>
#include <mutex>
#include <optional>
#include <utility>

#include "state/postgres_queries.h"
#include "state/postgres_store_impl.h"
#include "state/stored_codes.h"

namespace jobwatch::state {
namespace {

using pg::param;
using stored::floorMs;

// A with_result run waits while its job's result is pending (SPEC "Results"),
// and runs only on the instance holding its job ($1: this incarnation): the
// result file is in that machine's results.dir. A job held by nobody (its
// holder died, nobody claimed it yet) waits for the next holder, which
// fetches the result again (fleetTick); a forgotten job's runs run anywhere.
constexpr const char* kSettled =
    "(h.with_result = 0 OR (NOT EXISTS (SELECT 1 FROM results AS x "
    "WHERE x.job_id = h.job_id AND x.state = 0) AND NOT EXISTS (SELECT 1 FROM jobs AS o "
    "WHERE o.id = h.job_id AND o.owner IS DISTINCT FROM $1)))";

std::int64_t asLimit(size_t n) {
  constexpr auto kMax = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(n < kMax ? n : kMax);
}

// "{1,2,3}": a bigint[] parameter.
std::string idArray(const pg::Rows& rows) {
  std::string out = "{";
  for (int i = 0; i < rows.size(); ++i) {
    if (i > 0) out += ',';
    out += rows.text(i, 0);
  }
  return out + "}";
}

}  // namespace

Result<std::vector<HookRun>> PostgresStateStore::claimDueRuns(WallTime now, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<HookRun> runs;
  if (limit == 0) return runs;
  if (auto s = session(); !s) return s.error();
  Status done = pg::transaction(*db_, [&]() -> Status {
    auto alive = live();
    if (!alive) return alive.error();
    if (!*alive) return Ok{};  // lease lapsed: claim nothing until the next heartbeat
    auto claimed = db_->exec(
        std::string("UPDATE hook_runs SET state = 1, attempts = attempts + 1, owner = $1, "
                    "updated_ms = $2 WHERE run_id IN (SELECT h.run_id FROM hook_runs AS h "
                    "WHERE h.state = 0 AND h.not_before_ms <= $3 AND ") +
            kSettled +
            " ORDER BY h.not_before_ms, h.run_id LIMIT $4 FOR UPDATE SKIP LOCKED) "
            "RETURNING run_id",
        {incarnation_, param(floorMs(clock_.wallNow())), param(floorMs(now)),
         param(asLimit(limit))},
        "claiming due hook runs");
    if (!claimed) return claimed.error();
    if (claimed->size() == 0) return Ok{};
    auto read = pg_queries::selectRuns(*db_, "r.run_id = ANY($1::bigint[])", {idArray(*claimed)},
                                       "r.not_before_ms, r.run_id");
    if (!read) return read.error();
    runs = std::move(read).value();
    return Ok{};
  });
  if (!done) return done.error();
  return runs;
}

Status PostgresStateStore::finishRun(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                                     const std::string& last_error) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s;
  std::int64_t state = stored::kStateFailed;
  std::optional<std::int64_t> not_before;
  switch (outcome) {
    case RunOutcome::kSucceeded:
      state = stored::kStateSucceeded;
      break;
    case RunOutcome::kFailed:
      state = stored::kStateFailed;
      break;
    case RunOutcome::kRetry:
      state = stored::kStatePending;
      not_before = stored::ceilMs(retry_at);
      break;
  }
  auto rows = db_->exec(
      "UPDATE hook_runs SET state = $1, not_before_ms = COALESCE($2::bigint, not_before_ms), "
      "last_error = $3, updated_ms = $4, owner = NULL "
      "WHERE run_id = $5 AND state = 1 AND owner = $6",
      {param(state), param(not_before), last_error, param(floorMs(clock_.wallNow())), param(run_id),
       incarnation_},
      "recording a hook run's outcome");
  // No row changed: the run is no longer this process's (another took it
  // over when this one's lease lapsed, and records it itself; or it was
  // settled). Left as it is: not an error, which the hook side would retry
  // for good (state_store.h).
  if (!rows) return rows.error();
  return Ok{};
}

Status PostgresStateStore::releaseRun(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s;
  auto rows = db_->exec(
      "UPDATE hook_runs SET state = 0, not_before_ms = 0, updated_ms = $1, owner = NULL "
      "WHERE run_id = $2 AND state = 1 AND owner = $3",
      {param(floorMs(clock_.wallNow())), param(run_id), incarnation_}, "releasing a hook run");
  if (!rows) return rows.error();  // none changed: not ours any more (see finishRun)
  return Ok{};
}

Status PostgresStateStore::recordAttempt(const HookAttempt& a) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s;
  std::optional<std::int64_t> code;
  if (a.exit_code) code = *a.exit_code;
  return pg::transaction(*db_, [&]() -> Status {
    auto rows = db_->exec(
        // Only while the job is known (see job_history.cpp).
        "INSERT INTO hook_attempts (run_id, job_id, status, hook, attempt, started_ms, "
        "duration_ms, exit_code, signal, result, output) "
        "SELECT $1::bigint, $2, $3, $4, $5::integer, $6::bigint, $7::bigint, $8::integer, $9, "
        "$10, $11 "
        "WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $2)",
        {param(a.run_id), a.job_id, a.status, a.hook, param(std::int64_t{a.attempt}),
         param(floorMs(a.started)), param(static_cast<std::int64_t>(a.duration.count())),
         param(code), a.signal, a.result, a.output},
        "recording a hook attempt");
    if (!rows) return rows.error();
    return trimHistory("hook_attempts", a.job_id);
  });
}

Result<std::vector<HookRun>> PostgresStateStore::retryFailedRuns(
    const std::vector<std::string>& event_ids) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  std::vector<HookRun> requeued;
  const std::int64_t now_ms = floorMs(clock_.wallNow());
  Status done = pg::transaction(*db_, [&]() -> Status {
    const std::vector<std::string> all{""};
    for (const std::string& event : event_ids.empty() ? all : event_ids) {
      stored::EventRef ref;  // empty: every failed run
      if (!event.empty()) {
        auto parsed = stored::parseEventId(event);
        if (!parsed) return parsed.error();
        ref = std::move(parsed).value();
      }
      auto runs = event.empty() ? pg_queries::selectRuns(*db_, "r.state = 3", {}, "r.run_id")
                                : pg_queries::selectRuns(*db_,
                                                         "r.state = 3 AND r.job_id = $1 AND "
                                                         "r.status = $2",
                                                         {ref.job_id, ref.status}, "r.run_id");
      if (!runs) return runs.error();
      for (auto& run : std::move(runs).value()) {
        auto rows = db_->exec(
            "UPDATE hook_runs SET state = 0, not_before_ms = $1, last_error = '', "
            "updated_ms = $1, owner = NULL WHERE run_id = $2 AND state = 3",
            {param(now_ms), param(run.run_id)}, "queueing a hook run again");
        if (!rows) return rows.error();
        if (rows->affected() == 0) continue;  // another process queued it meanwhile
        run.state = HookRunState::kPending;
        run.not_before = stored::fromMs(now_ms);
        run.last_error.clear();
        requeued.push_back(std::move(run));
      }
    }
    return Ok{};
  });
  if (!done) return done.error();
  return requeued;
}

Result<std::optional<WallTime>> PostgresStateStore::nextPendingAt() {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  auto rows = db_->exec(
      std::string("SELECT min(h.not_before_ms) FROM hook_runs AS h WHERE h.state = 0 AND ") +
          kSettled,
      {incarnation_}, "looking for pending hook runs");
  if (!rows) return rows.error();
  std::optional<WallTime> next;
  if (auto ms = rows->optionalInt64(0, 0)) next = stored::fromMs(*ms);
  return next;
}

Result<size_t> PostgresStateStore::countRuns(HookRunState state) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  return pg_queries::countRuns(*db_, state);
}

Result<std::vector<HookRun>> PostgresStateStore::runsForJob(const std::string& job_id) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  return pg_queries::selectRuns(*db_, "r.job_id = $1", {job_id}, "r.run_id");
}

Result<std::vector<HookRun>> PostgresStateStore::recentRuns(HookRunState state, size_t limit) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  return pg_queries::selectRuns(*db_, "r.state = $1", {param(pg_queries::runStateCode(state))},
                                "r.updated_ms DESC, r.run_id DESC", asLimit(limit));
}

}  // namespace jobwatch::state
