// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <utility>

#include "state/postgres_connection.h"
#include "state/postgres_queries.h"
#include "state/postgres_schema.h"
#include "state/postgres_store_impl.h"
#include "state/stored_codes.h"

namespace jobwatch::state {
namespace {

using std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;
using stored::floorMs;

std::string newIncarnation(const std::string& instance) {
  std::random_device random;
  const std::uint64_t salt = (std::uint64_t{random()} << 32) ^ random();
  char tail[40];
  std::snprintf(tail, sizeof tail, "/%ld/%016llx", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(salt));
  return instance + tail;
}

// Calls `attempt` until it succeeds, it fails with a bad-input error, or
// `deadline` passes (then its last error, with how long was waited).
template <typename T, typename Attempt>
Result<T> retrying(SteadyTime deadline, const PostgresOptions& options, Attempt attempt) {
  milliseconds delay{250};
  for (;;) {
    Result<T> got = attempt();
    if (got || got.error().kind == ErrorKind::kBadInput) return got;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return got;
    const auto pause =
        std::min(delay, std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1));
    if (options.on_wait) options.on_wait(got.error(), pause);
    std::this_thread::sleep_for(pause);
    delay = std::min(delay * 2, milliseconds(4000));
  }
}

Error instanceRunning(const std::string& instance) {
  return Error{"instance " + instance +
                   " is already running (another live jobwatchd holds its lock in "
                   "PostgreSQL); give each instance its own state.instance",
               ErrorKind::kRuntime};
}

}  // namespace

Result<std::unique_ptr<StateStore>> openPostgresStore(const PostgresOptions& options,
                                                      const Clock& clock) {
  auto store = PostgresStateStore::open(options, clock);
  if (!store) return store.error();
  return std::unique_ptr<StateStore>(std::move(store).value());
}

Result<std::unique_ptr<PostgresStateStore>> PostgresStateStore::open(const PostgresOptions& options,
                                                                     const Clock& clock) {
  if (options.instance.empty()) {
    return Error{"state.instance must not be empty", ErrorKind::kBadInput};
  }
  const SteadyTime deadline = std::chrono::steady_clock::now() + options.max_wait;
  auto db = retrying<std::unique_ptr<pg::Connection>>(
      deadline, options, [&] { return pg::Connection::open(options.uri, options.answer_within); });
  if (!db) return db.error();
  std::unique_ptr<PostgresStateStore> store(
      new PostgresStateStore(std::move(db).value(), options, clock));
  const auto left = std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(
                                                  deadline - std::chrono::steady_clock::now()));
  if (auto migrated = pg_schema::migrate(*store->db_, left); !migrated) return migrated.error();
  std::lock_guard lock(store->mu_);
  if (auto locked = store->lockInstance(deadline); !locked) return locked.error();
  if (auto registered = store->registerIncarnation(); !registered) return registered.error();
  return store;
}

PostgresStateStore::PostgresStateStore(std::unique_ptr<pg::Connection> db,
                                       const PostgresOptions& options, const Clock& clock)
    : db_(std::move(db)),
      options_(options),
      clock_(clock),
      incarnation_(newIncarnation(options.instance)),
      started_ms_(floorMs(clock.wallNow())),
      path_("postgresql://" + db_->where()) {}

Result<bool> PostgresStateStore::tryLockInstance() {
  auto rows = db_->exec("SELECT pg_try_advisory_lock(hashtext('jobwatchd instance ' || $1))",
                        {options_.instance}, "taking the instance lock");
  if (!rows) return rows.error();
  instance_locked_ = rows->text(0, 0) == "t";
  return instance_locked_;
}

Status PostgresStateStore::lockInstance(SteadyTime deadline) {
  auto locked = retrying<bool>(deadline, options_, [&]() -> Result<bool> {
    auto got = tryLockInstance();
    if (!got) return got.error();
    if (!*got) return instanceRunning(options_.instance);
    return true;
  });
  if (!locked) return locked.error();
  return Ok{};
}

Status PostgresStateStore::registerIncarnation() {
  return pg::transaction(*db_, [&]() -> Status {
    // Holding the instance lock proves every earlier incarnation dead.
    auto previous = db_->exec("DELETE FROM instances WHERE instance = $1 RETURNING incarnation",
                              {options_.instance}, "registering the instance");
    if (!previous) return previous.error();
    previous_incarnations_.clear();
    for (int i = 0; i < previous->size(); ++i) {
      const std::string old = previous->text(i, 0);
      auto moved = db_->exec("UPDATE jobs SET owner = $1 WHERE owner = $2", {incarnation_, old},
                             "taking over a previous incarnation's jobs");
      if (!moved) return moved.error();
      previous_incarnations_.push_back(old);
    }
    auto inserted = db_->exec(
        std::string("INSERT INTO instances (incarnation, instance, started_ms, heartbeat_at) "
                    "VALUES ($1, $2, $3, now())"),
        {incarnation_, options_.instance, pg::param(started_ms_)}, "registering the instance");
    if (!inserted) return inserted.error();
    return Ok{};
  });
}

Status PostgresStateStore::session() {
  auto reconnected = db_->ensureConnected();
  if (!reconnected) return reconnected.error();
  if (*reconnected) instance_locked_ = false;
  if (instance_locked_) return Ok{};
  auto locked = tryLockInstance();
  if (!locked) return locked.error();
  if (!*locked) return instanceRunning(options_.instance);
  return Ok{};
}

Result<bool> PostgresStateStore::live() {
  auto rows = db_->exec("SELECT 1 FROM instances AS i WHERE i.incarnation = $1 AND " +
                            pg_queries::liveInstance("i", 2),
                        {incarnation_, leaseParam()}, "checking this instance's lease");
  if (!rows) return rows.error();
  return rows->size() > 0;
}

Result<size_t> PostgresStateStore::recoverInterruptedRuns() {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  size_t recovered = 0;
  Status done = pg::transaction(*db_, [&]() -> Status {
    for (const std::string& old : previous_incarnations_) {
      auto rows = db_->exec(
          "UPDATE hook_runs SET state = 0, owner = NULL, not_before_ms = 0, updated_ms = $2 "
          "WHERE state = 1 AND owner = $1",
          {old, pg::param(floorMs(clock_.wallNow()))}, "recovering interrupted hook runs");
      if (!rows) return rows.error();
      recovered += static_cast<size_t>(rows->affected());
    }
    return Ok{};
  });
  if (!done) return done.error();
  previous_incarnations_.clear();
  return recovered;
}

Result<std::vector<std::string>> PostgresStateStore::loadForgotten() {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  auto rows = db_->exec("SELECT id FROM forgotten_jobs ORDER BY id", "reading forgotten jobs");
  if (!rows) return rows.error();
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(rows->size()));
  for (int i = 0; i < rows->size(); ++i) out.push_back(rows->text(i, 0));
  return out;
}

Result<std::vector<ResultRecord>> PostgresStateStore::loadPendingResults() {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  return pg_queries::selectResults(*db_, "r.state = 0 AND j.owner = $1", {incarnation_});
}

Result<std::optional<ResultRecord>> PostgresStateStore::resultFor(const std::string& job_id) {
  std::lock_guard lock(mu_);
  if (auto s = session(); !s) return s.error();
  auto found = pg_queries::selectResults(*db_, "r.job_id = $1", {job_id});
  if (!found) return found.error();
  std::vector<ResultRecord> list = std::move(found).value();
  std::optional<ResultRecord> out;
  if (!list.empty()) out = std::move(list.front());
  return out;
}

Result<PostgresCheck> checkPostgres(const std::string& uri) {
  auto db = pg::Connection::open(uri, kReaderAnswerWithin);
  if (!db) return db.error();
  PostgresCheck check;
  auto version = (*db)->exec("SELECT current_setting('server_version')", "reading the version");
  if (!version) return version.error();
  check.server_version = version->text(0, 0);
  auto schema = pg_schema::readVersion(**db);
  if (!schema) return schema.error();
  check.schema_version = *schema;
  check.current_version = pg_schema::kVersion;
  if (check.schema_version > check.current_version) {
    return Error{"PostgreSQL state schema has version " + std::to_string(check.schema_version) +
                     ", newer than this jobwatchd understands (" +
                     std::to_string(check.current_version) + "); run the newer jobwatchd",
                 ErrorKind::kBadInput};
  }
  return check;
}

}  // namespace jobwatch::state
