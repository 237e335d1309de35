// SPDX-License-Identifier: Apache-2.0
// PostgresStateStore: the fleet (SPEC "High availability"): heartbeats,
// reaping dead members, claiming a fair share, balancing, leaving.
#include <algorithm>
#include <mutex>
#include <utility>

#include "state/postgres_queries.h"
#include "state/postgres_store_impl.h"
#include "state/stored_codes.h"

namespace jobwatch::state {
namespace {

using pg::param;
using stored::floorMs;

// A text[] parameter: {"a","b"} with backslashes and quotes escaped.
std::string textArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::int64_t clampCount(size_t n) {
  return static_cast<std::int64_t>(std::min<size_t>(n, 1'000'000'000));
}

}  // namespace

// Renews this incarnation (re-registering it if a peer reaped it), deletes
// members whose lease lapsed, and frees their jobs and running hook runs.
Status PostgresStateStore::heartbeatAndReap() {
  auto beat = db_->exec(
      "INSERT INTO instances (incarnation, instance, started_ms, heartbeat_at) "
      "VALUES ($1, $2, $3, now()) ON CONFLICT (incarnation) DO UPDATE SET heartbeat_at = now()",
      {incarnation_, options_.instance, param(started_ms_)}, "renewing the lease");
  if (!beat) return beat.error();
  auto stale =
      db_->exec("DELETE FROM instances AS i WHERE NOT (" + pg_queries::liveInstance("i", 1) + ")",
                {leaseParam()}, "reaping dead instances");
  if (!stale) return stale.error();
  auto jobs = db_->exec(
      "UPDATE jobs SET owner = NULL WHERE owner IS NOT NULL AND owner NOT IN "
      "(SELECT incarnation FROM instances)",
      "freeing dead instances' jobs");
  if (!jobs) return jobs.error();
  // Due at once; the next claim runs them as attempt+1.
  auto runs = db_->exec(
      "UPDATE hook_runs SET state = 0, owner = NULL, not_before_ms = 0, updated_ms = $1 "
      "WHERE state = 1 AND (owner IS NULL OR owner NOT IN (SELECT incarnation FROM instances))",
      {param(floorMs(clock_.wallNow()))}, "freeing dead instances' hook runs");
  if (!runs) return runs.error();
  return Ok{};
}

// Claims free jobs up to the fair share and releases those held beyond
// share + share/10 + 1 (into `released`). Returns the share.
Result<size_t> PostgresStateStore::claimFree(const FleetTickOptions& options,
                                             std::vector<std::string>& released) {
  auto counts = db_->exec(
      "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM instances), "
      "(SELECT count(*) FROM jobs WHERE owner = $1)",
      {incarnation_}, "counting the fleet's jobs");
  if (!counts) return counts.error();
  const auto total = static_cast<size_t>(counts->int64(0, 0));
  const auto members = std::max<size_t>(1, static_cast<size_t>(counts->int64(0, 1)));
  const auto held = static_cast<size_t>(counts->int64(0, 2));
  const size_t share = (total + members - 1) / members;
  if (options.claim && held < share) {
    const size_t want = std::min(share - held, options.max_claim);
    auto claimed = db_->exec(
        "UPDATE jobs SET owner = $1 WHERE id IN (SELECT id FROM jobs WHERE owner IS NULL "
        "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
        {incarnation_, param(clampCount(want))}, "claiming free jobs");
    if (!claimed) return claimed.error();
  }
  const size_t limit = share + share / 10 + 1;
  if (options.balance && held > limit) {
    const size_t excess = std::min(held - limit, options.max_claim);
    auto freed = db_->exec(
        "UPDATE jobs SET owner = NULL WHERE id IN (SELECT id FROM jobs WHERE owner = $1 "
        "ORDER BY id DESC LIMIT $2 FOR UPDATE) RETURNING id",
        {incarnation_, param(clampCount(excess))}, "releasing jobs for balance");
    if (!freed) return freed.error();
    for (int i = 0; i < freed->size(); ++i) released.push_back(freed->text(i, 0));
  }
  return share;
}

Result<std::set<std::string>> PostgresStateStore::heldIds() {
  auto rows =
      db_->exec("SELECT id FROM jobs WHERE owner = $1", {incarnation_}, "listing the jobs held");
  if (!rows) return rows.error();
  std::set<std::string> out;
  for (int i = 0; i < rows->size(); ++i) out.insert(rows->text(i, 0));
  return out;
}

Result<std::vector<FleetMember>> PostgresStateStore::members() {
  return pg_queries::members(*db_, incarnation_);
}

Status PostgresStateStore::fillClaimed(FleetTick& tick, const std::vector<std::string>& ids) {
  if (ids.empty()) return Ok{};
  auto jobs = pg_queries::selectJobs(*db_, "j.id = ANY($1::text[])", {textArray(ids)});
  if (!jobs) return jobs.error();
  tick.claimed = std::move(jobs).value();
  // A result fetched by the job's previous holder is in that machine's
  // results.dir: if a with_result run still waits for it, fetch it again here.
  const std::int64_t now_ms = floorMs(clock_.wallNow());
  auto refetch = db_->exec(
      "UPDATE results AS r SET state = 0, file = '', error = '', attempts = 0, since_ms = $2, "
      "next_try_ms = 0, updated_ms = $2 WHERE r.state = 1 AND r.job_id = ANY($1::text[]) AND "
      "EXISTS (SELECT 1 FROM hook_runs AS h WHERE h.job_id = r.job_id AND h.with_result = 1 "
      "AND h.state = 0)",
      {textArray(ids), param(now_ms)}, "asking for claimed jobs' results again");
  if (!refetch) return refetch.error();
  auto results = pg_queries::selectResults(*db_, "r.state = 0 AND r.job_id = ANY($1::text[])",
                                           {textArray(ids)});
  if (!results) return results.error();
  tick.claimed_results = std::move(results).value();
  return Ok{};
}

Result<FleetTick> PostgresStateStore::fleetTick(const FleetTickOptions& options) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  FleetTick tick;
  std::set<std::string> now_held;
  Status done = pg::transaction(*db_, [&]() -> Status {
    if (auto reaped = heartbeatAndReap(); !reaped) return reaped;
    std::vector<std::string> released;
    if (auto shared = claimFree(options, released); !shared) return shared.error();
    auto held = heldIds();
    if (!held) return held.error();
    now_held = std::move(held).value();
    std::vector<std::string> claimed;
    for (const auto& id : now_held) {
      if (held_.count(id) == 0) claimed.push_back(id);
    }
    for (const auto& id : held_) {
      if (now_held.count(id) == 0) tick.lost.push_back(id);
    }
    if (auto filled = fillClaimed(tick, claimed); !filled) return filled;
    auto fleet = members();
    if (!fleet) return fleet.error();
    tick.members = std::move(fleet).value();
    return Ok{};
  });
  if (!done) return done.error();
  held_ = std::move(now_held);
  tick.held = held_.size();
  return tick;
}

Status PostgresStateStore::leaveFleet() {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s;
  Status done = pg::transaction(*db_, [&]() -> Status {
    auto jobs = db_->exec("UPDATE jobs SET owner = NULL WHERE owner = $1", {incarnation_},
                          "freeing this instance's jobs");
    if (!jobs) return jobs.error();
    auto runs = db_->exec(
        "UPDATE hook_runs SET state = 0, owner = NULL, not_before_ms = 0, updated_ms = $2 "
        "WHERE state = 1 AND owner = $1",
        {incarnation_, param(floorMs(clock_.wallNow()))}, "freeing this instance's hook runs");
    if (!runs) return runs.error();
    auto gone = db_->exec("DELETE FROM instances WHERE incarnation = $1", {incarnation_},
                          "leaving the fleet");
    if (!gone) return gone.error();
    return Ok{};
  });
  if (!done) return done;
  held_.clear();
  return Ok{};
}

}  // namespace jobwatch::state
