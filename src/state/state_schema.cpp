// SPDX-License-Identifier: Apache-2.0
#include "state/state_schema.h"

#include <cstdio>
#include <string>
#include <vector>

#include "util/job_id.h"

namespace jobwatch::state::schema {
namespace {

using sqlite::Connection;

constexpr const char* kSchema = R"sql(
CREATE TABLE jobs (
  id                 TEXT PRIMARY KEY NOT NULL,
  source             INTEGER NOT NULL CHECK (source IN (0, 1)),  -- 0 watch file, 1 drop dir
  status             TEXT NOT NULL,                -- canonical
  terminal           INTEGER NOT NULL CHECK (terminal IN (0, 1)),
  status_raw         TEXT NOT NULL,
  type               TEXT NOT NULL,
  pdf_name           TEXT NOT NULL,
  pdf_hash           TEXT NOT NULL,
  error              TEXT NOT NULL,
  created_at         TEXT NOT NULL,                -- as the API said
  updated_at         TEXT NOT NULL,
  last_body          TEXT NOT NULL,                -- raw JSON
  added_at_ms        INTEGER NOT NULL,             -- ms since the epoch
  terminal_at_ms     INTEGER,
  consecutive_errors INTEGER NOT NULL,
  overdue            INTEGER NOT NULL DEFAULT 0 CHECK (overdue IN (0, 1)),  -- event raised
  account            TEXT NOT NULL DEFAULT 'default'  -- first binding stays (SPEC "Accounts")
);
CREATE INDEX jobs_terminal_at ON jobs (terminal_at_ms) WHERE terminal = 1;
CREATE TABLE hook_runs (
  run_id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
  job_id          TEXT NOT NULL,
  status          TEXT NOT NULL,
  hook            TEXT NOT NULL,
  previous_status TEXT NOT NULL,
  status_raw      TEXT NOT NULL,
  type            TEXT NOT NULL,
  pdf_name        TEXT NOT NULL,
  pdf_hash        TEXT NOT NULL,
  error           TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  body            TEXT NOT NULL,
  state           INTEGER NOT NULL CHECK (state IN (0, 1, 2, 3)),  -- pending running succeeded failed
  attempts        INTEGER NOT NULL,
  not_before_ms   INTEGER NOT NULL,
  last_error      TEXT NOT NULL,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  account         TEXT NOT NULL DEFAULT 'default',  -- the job's, when the run was recorded
  UNIQUE (job_id, status, hook)
);
CREATE INDEX hook_runs_due ON hook_runs (state, not_before_ms);
-- Watch-file jobs that were forgotten: kept so a job still listed in the
-- watch file is not watched (and its hooks run) all over again.
CREATE TABLE forgotten_jobs (
  id              TEXT PRIMARY KEY NOT NULL,
  forgotten_at_ms INTEGER NOT NULL
);
)sql";

// Version 2's label tables; keys and values are any bytes.
constexpr const char* kLabelTables = R"sql(
CREATE TABLE job_labels (
  job_id TEXT NOT NULL,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
CREATE TABLE run_labels (
  run_id INTEGER NOT NULL,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
)sql";

// Version 3's results (SPEC "Results"): one row per job whose result a
// hook wants, and which hook runs wait for it.
constexpr const char* kResultTables = R"sql(
CREATE TABLE results (
  job_id      TEXT PRIMARY KEY NOT NULL,
  state       INTEGER NOT NULL CHECK (state IN (0, 1, 2)),  -- pending done gave_up
  file        TEXT NOT NULL,
  error       TEXT NOT NULL,
  attempts    INTEGER NOT NULL,
  since_ms    INTEGER NOT NULL,
  next_try_ms INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL
);
)sql";

// 2 -> 3: runs say whether they wait for a result.
constexpr const char* kMigrate2To3 = R"sql(
ALTER TABLE hook_runs ADD COLUMN with_result INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 4: each job's bounded history (state/job_history.h).
constexpr const char* kHistoryTables = R"sql(
CREATE TABLE job_transitions (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id      TEXT NOT NULL,
  from_status TEXT NOT NULL,
  to_status   TEXT NOT NULL,
  at_ms       INTEGER NOT NULL,
  updated_at  TEXT NOT NULL                     -- as the API said
);
CREATE INDEX job_transitions_job ON job_transitions (job_id, seq);
CREATE TABLE hook_attempts (
  seq         INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id      INTEGER NOT NULL,
  job_id      TEXT NOT NULL,
  status      TEXT NOT NULL,
  hook        TEXT NOT NULL,
  attempt     INTEGER NOT NULL,
  started_ms  INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  exit_code   INTEGER,                          -- NULL: ended by a signal, or never spawned
  signal      TEXT NOT NULL,
  result      TEXT NOT NULL,
  output      TEXT NOT NULL                     -- its last lines
);
CREATE INDEX hook_attempts_job ON hook_attempts (job_id, seq);
)sql";

// 1 -> 2: labels out of the JSON columns into tables. (SQLite's json_each
// ends a string at an escaped NUL; jobwatchd's inputs refuse control
// characters in labels, so no version-1 file holds one.)
constexpr const char* kMigrate1To2 = R"sql(
INSERT INTO job_labels (job_id, key, value)
  SELECT jobs.id, l.key, l.value FROM jobs, json_each(jobs.labels) AS l;
INSERT INTO run_labels (run_id, key, value)
  SELECT hook_runs.run_id, l.key, l.value FROM hook_runs, json_each(hook_runs.labels) AS l;
ALTER TABLE jobs DROP COLUMN labels;
ALTER TABLE hook_runs DROP COLUMN labels;
)sql";

// 4 -> 5: jobs remember whether they raised the `overdue` event.
constexpr const char* kMigrate4To5 = R"sql(
ALTER TABLE jobs ADD COLUMN overdue INTEGER NOT NULL DEFAULT 0 CHECK (overdue IN (0, 1));
)sql";

// 5 -> 6: jobs and hook runs name their account (SPEC "Accounts"); every
// row written before accounts existed belongs to `default`.
constexpr const char* kMigrate5To6 = R"sql(
ALTER TABLE jobs ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
ALTER TABLE hook_runs ADD COLUMN account TEXT NOT NULL DEFAULT 'default';
)sql";

// What the file is, read without writing anything.
struct Header {
  std::int64_t application_id = 0;
  std::int64_t user_version = 0;
  std::vector<std::string> tables;
};

Error notOurs(const Connection& db, const std::string& why) {
  return db.error("not a jobwatchd state database (" + why +
                  "); check state.path, or move the file (with any -wal and -shm files beside "
                  "it) away to start afresh");
}

Error corrupt(const Connection& db, const std::string& why) {
  return db.error("state database is corrupt (" + why +
                  "); move it (with any -wal and -shm files beside it) away to start afresh, "
                  "knowing that hooks already run may then run again");
}

// A failed read: not ours, corrupt, or the plain error (locked, I/O) with
// its own kind.
Error readFailure(const Connection& db, const Error& error) {
  switch (db.lastFault()) {
    case Connection::Fault::kNotADatabase:
      return notOurs(db, "file is not a database");
    case Connection::Fault::kCorrupt:
      return corrupt(db, "database disk image is malformed");
    case Connection::Fault::kBusy:  // a runtime condition: the error says so already
    case Connection::Fault::kOther:
      break;
  }
  return error;
}

Status checkIntegrity(Connection& db) {
  auto page_count = db.integer("PRAGMA page_count", "reading the file header");
  if (!page_count) return readFailure(db, page_count.error());
  if (*page_count == 0) return Ok{};
  auto check = db.column("PRAGMA quick_check", "checking integrity");
  if (!check) return readFailure(db, check.error());
  if (check->size() == 1 && check->front() == "ok") return Ok{};
  std::string why = "quick_check: " + (check->empty() ? std::string("no answer") : check->front());
  if (check->size() > 1) why += " and " + std::to_string(check->size() - 1) + " more problems";
  return corrupt(db, why);
}

Result<Header> readHeader(Connection& db) {
  Header header;
  auto application_id = db.integer("PRAGMA application_id", "reading the file header");
  if (!application_id) return readFailure(db, application_id.error());
  header.application_id = *application_id;
  if (auto checked = checkIntegrity(db); !checked) return checked.error();
  auto user_version = db.integer("PRAGMA user_version", "reading the file header");
  if (!user_version) return readFailure(db, user_version.error());
  header.user_version = *user_version;
  auto tables = db.column(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
      "ESCAPE '\\' ORDER BY name",
      "reading the schema");
  if (!tables) return readFailure(db, tables.error());
  header.tables = std::move(tables).value();
  return header;
}

// Whether the file is a new one (true), ours (false), or refused (error).
Result<bool> classify(const Connection& db, const Header& h) {
  if (h.application_id == kApplicationId) {
    if (h.user_version > kVersion) {
      return db.error("state database has schema version " + std::to_string(h.user_version) +
                      ", newer than this jobwatchd understands (" + std::to_string(kVersion) +
                      "); run the newer jobwatchd");
    }
    if (h.user_version < 1) {
      return corrupt(
          db, "jobwatchd database with unknown schema version " + std::to_string(h.user_version));
    }
    return false;
  }
  if (h.application_id == 0 && h.user_version == 0 && h.tables.empty()) return true;
  if (!h.tables.empty()) {
    std::string list;
    for (size_t i = 0; i < h.tables.size() && i < 5; ++i) {
      if (i > 0) list += ", ";
      list += quoteForMessage(h.tables[i], 40);  // the file is not ours: untrusted
    }
    if (h.tables.size() > 5) list += ", ...";
    return notOurs(db, "an SQLite database with other tables: " + list);
  }
  char id[16];
  std::snprintf(id, sizeof id, "0x%08llx",
                static_cast<unsigned long long>(h.application_id) & 0xffffffffULL);
  return notOurs(db, std::string("an SQLite database of another application, id ") + id);
}

Status useWal(Connection& db) {
  auto journal = db.column("PRAGMA journal_mode = WAL", "switching to WAL journal mode");
  if (!journal) return journal.error();
  if (journal->size() != 1 || journal->front() != "wal") {
    return db.error("cannot use WAL journal mode (SQLite kept \"" +
                    (journal->empty() ? std::string() : journal->front()) + "\")");
  }
  return db.exec("PRAGMA synchronous = FULL", "setting synchronous = FULL");
}

// Runs `sql` and sets user_version to `version`, in one transaction.
Status commitVersion(Connection& db, const std::string& sql, std::int64_t version,
                     const char* what) {
  if (auto began = db.begin(); !began) return began;
  Status done = db.exec(sql + "PRAGMA user_version = " + std::to_string(version) + ";", what);
  if (!done) {
    db.rollback();
    return done;
  }
  return db.commit();
}

std::string migrationSql(std::int64_t from) {
  switch (from) {
    case 1:
      return std::string(kLabelTables) + kMigrate1To2;
    case 2:
      return std::string(kResultTables) + kMigrate2To3;
    case 3:
      return kHistoryTables;
    case 4:
      return kMigrate4To5;
    case 5:
      return kMigrate5To6;
    default:
      return {};
  }
}

Status migrate(Connection& db, std::int64_t from) {
  for (std::int64_t v = from; v < kVersion; ++v) {
    const std::string sql = migrationSql(v);
    if (sql.empty()) return corrupt(db, "no migration from schema version " + std::to_string(v));
    const std::string what =
        "migrating the schema from version " + std::to_string(v) + " to " + std::to_string(v + 1);
    if (auto done = commitVersion(db, sql, v + 1, what.c_str()); !done) return done;
  }
  return Ok{};
}

}  // namespace

Status checkReadable(Connection& db) {
  auto header = readHeader(db);
  if (!header) return header.error();
  auto fresh = classify(db, *header);
  if (!fresh) return fresh.error();
  if (*fresh) return db.error("state database is empty: jobwatchd has not run with it yet");
  if (header->user_version < kVersion) {
    return db.error("state database has schema version " + std::to_string(header->user_version) +
                    "; start the daemon once to migrate it to " + std::to_string(kVersion));
  }
  return Ok{};
}

Status prepare(Connection& db) {
  auto header = readHeader(db);
  if (!header) return header.error();
  auto fresh = classify(db, *header);
  if (!fresh) return fresh.error();
  if (auto wal = useWal(db); !wal) return wal;
  if (*fresh) {
    const std::string sql = std::string(kSchema) + kLabelTables + kResultTables + kMigrate2To3 +
                            kHistoryTables +
                            "PRAGMA application_id = " + std::to_string(kApplicationId) + ";";
    if (auto created = commitVersion(db, sql, kVersion, "creating the schema"); !created) {
      return created;
    }
  } else if (header->user_version < kVersion) {
    if (auto migrated = migrate(db, header->user_version); !migrated) return migrated;
  }
  // Ours: a clean close may now fold the WAL back into the main file.
  db.setCheckpointOnClose(true);
  return Ok{};
}

}  // namespace jobwatch::state::schema
