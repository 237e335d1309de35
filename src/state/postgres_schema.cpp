// SPDX-License-Identifier: Apache-2.0
#include "state/postgres_schema.h"

#include <algorithm>
#include <cstdint>
#include <string>

namespace jobwatch::state::pg_schema {
namespace {

// pg_advisory_xact_lock key of the migrations (any constant of ours).
constexpr const char* kMigrationLock = "7426351842906127001";

constexpr const char* kVersion1 = R"sql(
CREATE TABLE instances (
  incarnation  text PRIMARY KEY,              -- one run of a jobwatchd process
  instance     text NOT NULL,                 -- state.instance
  started_ms   bigint NOT NULL,
  heartbeat_at timestamptz NOT NULL           -- the database's now()
);
CREATE INDEX instances_instance ON instances (instance);
CREATE TABLE jobs (
  id                 text PRIMARY KEY,
  source             integer NOT NULL CHECK (source IN (0, 1)),  -- 0 watch file, 1 drop dir
  status             text NOT NULL,
  terminal           integer NOT NULL CHECK (terminal IN (0, 1)),
  status_raw         text NOT NULL,
  type               text NOT NULL,
  pdf_name           text NOT NULL,
  pdf_hash           text NOT NULL,
  error              text NOT NULL,
  created_at         text NOT NULL,
  updated_at         text NOT NULL,
  last_body          text NOT NULL,
  added_at_ms        bigint NOT NULL,
  terminal_at_ms     bigint,
  consecutive_errors integer NOT NULL,
  overdue            integer NOT NULL DEFAULT 0 CHECK (overdue IN (0, 1)),
  account            text NOT NULL DEFAULT 'default',  -- first binding stays
  owner              text                   -- incarnation holding it; NULL: free
);
CREATE INDEX jobs_terminal_at ON jobs (terminal_at_ms) WHERE terminal = 1;
CREATE INDEX jobs_owner ON jobs (owner);
CREATE TABLE hook_runs (
  run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id          text NOT NULL,
  status          text NOT NULL,
  hook            text NOT NULL,
  previous_status text NOT NULL,
  status_raw      text NOT NULL,
  type            text NOT NULL,
  pdf_name        text NOT NULL,
  pdf_hash        text NOT NULL,
  error           text NOT NULL,
  created_at      text NOT NULL,
  updated_at      text NOT NULL,
  body            text NOT NULL,
  state           integer NOT NULL CHECK (state IN (0, 1, 2, 3)),  -- pending running succeeded failed
  attempts        integer NOT NULL,
  not_before_ms   bigint NOT NULL,
  last_error      text NOT NULL,
  created_ms      bigint NOT NULL,
  updated_ms      bigint NOT NULL,
  with_result     integer NOT NULL DEFAULT 0,
  account         text NOT NULL DEFAULT 'default',
  owner           text,                    -- incarnation running it (state 1)
  UNIQUE (job_id, status, hook)
);
CREATE INDEX hook_runs_due ON hook_runs (state, not_before_ms);
CREATE TABLE forgotten_jobs (
  id              text PRIMARY KEY,
  forgotten_at_ms bigint NOT NULL
);
CREATE TABLE job_labels (
  job_id text NOT NULL,
  key    text NOT NULL,
  value  text NOT NULL,
  PRIMARY KEY (job_id, key)
);
CREATE TABLE run_labels (
  run_id bigint NOT NULL,
  key    text NOT NULL,
  value  text NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE TABLE results (
  job_id      text PRIMARY KEY,
  state       integer NOT NULL CHECK (state IN (0, 1, 2)),  -- pending done gave_up
  file        text NOT NULL,
  error       text NOT NULL,
  attempts    integer NOT NULL,
  since_ms    bigint NOT NULL,
  next_try_ms bigint NOT NULL,
  updated_ms  bigint NOT NULL
);
CREATE TABLE job_transitions (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id      text NOT NULL,
  from_status text NOT NULL,
  to_status   text NOT NULL,
  at_ms       bigint NOT NULL,
  updated_at  text NOT NULL
);
CREATE INDEX job_transitions_job ON job_transitions (job_id, seq);
CREATE TABLE hook_attempts (
  seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      bigint NOT NULL,
  job_id      text NOT NULL,
  status      text NOT NULL,
  hook        text NOT NULL,
  attempt     integer NOT NULL,
  started_ms  bigint NOT NULL,
  duration_ms bigint NOT NULL,
  exit_code   integer,
  signal      text NOT NULL,
  result      text NOT NULL,
  output      text NOT NULL
);
CREATE INDEX hook_attempts_job ON hook_attempts (job_id, seq);
)sql";

// The migration from `from` to from+1 (empty: none known).
std::string migrationSql(int from) {
  switch (from) {
    case 0:
      return kVersion1;
    default:
      return {};
  }
}

Error newer(int version) {
  return Error{"PostgreSQL state schema has version " + std::to_string(version) +
                   ", newer than this jobwatchd understands (" + std::to_string(kVersion) +
                   "); run the newer jobwatchd",
               ErrorKind::kBadInput};
}

// Inside the migration transaction, with the lock held.
Status migrateLocked(pg::Connection& db) {
  auto created = db.exec("CREATE TABLE IF NOT EXISTS jobwatch_schema (version integer NOT NULL)",
                         "creating the schema table");
  if (!created) return created.error();
  auto rows = db.exec("SELECT max(version) FROM jobwatch_schema", "reading the schema version");
  if (!rows) return rows.error();
  const int version = static_cast<int>(rows->int64(0, 0));
  if (version > kVersion) return newer(version);
  for (int v = version; v < kVersion; ++v) {
    const std::string sql = migrationSql(v);
    if (sql.empty()) {
      return Error{"no migration from PostgreSQL schema version " + std::to_string(v),
                   ErrorKind::kBadInput};
    }
    const std::string what =
        "migrating the schema from version " + std::to_string(v) + " to " + std::to_string(v + 1);
    if (auto done = db.exec(sql, what.c_str()); !done) return done.error();
  }
  if (version == kVersion) return Ok{};
  auto stamped = db.exec("DELETE FROM jobwatch_schema; INSERT INTO jobwatch_schema VALUES (" +
                             std::to_string(kVersion) + ")",
                         "recording the schema version");
  if (!stamped) return stamped.error();
  return Ok{};
}

}  // namespace

Status migrate(pg::Connection& db, std::chrono::milliseconds max_wait) {
  return pg::transaction(db, [&]() -> Status {
    const std::string timeout =
        "SET LOCAL lock_timeout = " + std::to_string(std::max<std::int64_t>(max_wait.count(), 1));
    if (auto set = db.exec(timeout, "setting the lock timeout"); !set) return set.error();
    auto locked = db.exec(std::string("SELECT pg_advisory_xact_lock(") + kMigrationLock + ")",
                          "waiting for another instance's schema migration");
    if (!locked) return locked.error();
    return migrateLocked(db);
  });
}

Result<int> readVersion(pg::Connection& db) {
  auto exists = db.exec("SELECT to_regclass('jobwatch_schema') IS NOT NULL", "reading the schema");
  if (!exists) return exists.error();
  if (exists->text(0, 0) != "t") return 0;
  auto rows = db.exec("SELECT max(version) FROM jobwatch_schema", "reading the schema version");
  if (!rows) return rows.error();
  return static_cast<int>(rows->int64(0, 0));
}

Status checkReadable(pg::Connection& db) {
  auto version = readVersion(db);
  if (!version) return version.error();
  if (*version > kVersion) return newer(*version);
  if (*version < kVersion) {
    return Error{"PostgreSQL state schema has version " + std::to_string(*version) +
                     "; start the daemon once to create or migrate it to " +
                     std::to_string(kVersion),
                 ErrorKind::kBadInput};
  }
  return Ok{};
}

}  // namespace jobwatch::state::pg_schema
