// SPDX-License-Identifier: Apache-2.0
// Accounts in the state store (SPEC "Accounts"): a version-5 database
// migrates with every row 'default'.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "state/state_schema.h"
#include "state/state_store.h"
#include "state_test_support.h"

namespace jobwatch::state {
namespace {

using testing::rawExec;
using testing::rawScalar;

class AccountTest : public testing::StoreFixture {};

// A state database as jobwatchd with schema version 5 wrote it.
constexpr const char* kVersion5Database = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE jobs (
  id TEXT PRIMARY KEY NOT NULL, source INTEGER NOT NULL CHECK (source IN (0, 1)),
  status TEXT NOT NULL, terminal INTEGER NOT NULL CHECK (terminal IN (0, 1)),
  status_raw TEXT NOT NULL, type TEXT NOT NULL, pdf_name TEXT NOT NULL, pdf_hash TEXT NOT NULL,
  error TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  last_body TEXT NOT NULL, added_at_ms INTEGER NOT NULL, terminal_at_ms INTEGER,
  consecutive_errors INTEGER NOT NULL,
  overdue INTEGER NOT NULL DEFAULT 0 CHECK (overdue IN (0, 1)));
CREATE INDEX jobs_terminal_at ON jobs (terminal_at_ms) WHERE terminal = 1;
CREATE TABLE hook_runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, status TEXT NOT NULL,
  hook TEXT NOT NULL, previous_status TEXT NOT NULL, status_raw TEXT NOT NULL,
  type TEXT NOT NULL, pdf_name TEXT NOT NULL, pdf_hash TEXT NOT NULL, error TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, body TEXT NOT NULL,
  state INTEGER NOT NULL CHECK (state IN (0, 1, 2, 3)), attempts INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL, last_error TEXT NOT NULL, created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL, with_result INTEGER NOT NULL DEFAULT 0,
  UNIQUE (job_id, status, hook));
CREATE INDEX hook_runs_due ON hook_runs (state, not_before_ms);
CREATE TABLE forgotten_jobs (id TEXT PRIMARY KEY NOT NULL, forgotten_at_ms INTEGER NOT NULL);
CREATE TABLE job_labels (job_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (job_id, key)) WITHOUT ROWID;
CREATE TABLE run_labels (run_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)) WITHOUT ROWID;
CREATE TABLE results (
  job_id TEXT PRIMARY KEY NOT NULL, state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
  file TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, since_ms INTEGER NOT NULL,
  next_try_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE job_transitions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, from_status TEXT NOT NULL,
  to_status TEXT NOT NULL, at_ms INTEGER NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX job_transitions_job ON job_transitions (job_id, seq);
CREATE TABLE hook_attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, job_id TEXT NOT NULL,
  status TEXT NOT NULL, hook TEXT NOT NULL, attempt INTEGER NOT NULL,
  started_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, exit_code INTEGER,
  signal TEXT NOT NULL, result TEXT NOT NULL, output TEXT NOT NULL);
CREATE INDEX hook_attempts_job ON hook_attempts (job_id, seq);
INSERT INTO jobs VALUES ('job-1', 0, 'completed', 1, 'COMPLETED', 'extraction', 'report.pdf',
  'sha256:abc', '', '2024-01-15T10:30:00.000Z', '2024-01-15T10:32:00.000Z', '{"id":"job-1"}',
  1800000000000, 1800000005000, 0, 1);
INSERT INTO job_labels VALUES ('job-1', 'customer', 'acme');
INSERT INTO hook_runs VALUES (7, 'job-1', 'completed', 'notify', 'processing', 'COMPLETED',
  'extraction', 'report.pdf', 'sha256:abc', '', '2024-01-15T10:30:00.000Z',
  '2024-01-15T10:32:00.000Z', '{"id":"job-1"}', 0, 1, 1800000006000, 'exit 1',
  1800000005000, 1800000006000, 1);
INSERT INTO results VALUES ('job-1', 0, '', 'HTTP 503', 1, 1800000005000, 1800000007000,
  1800000006000);
PRAGMA application_id = 1247241064;
PRAGMA user_version = 5;
)sql";

TEST_F(AccountTest, AVersion5DatabaseIsMigratedWithEveryRowInDefault) {
  rawExec(dbPath(), kVersion5Database);
  {
    auto store = open();
    ASSERT_TRUE(store);
    auto jobs = store->loadJobs();
    ASSERT_TRUE(jobs.ok()) << jobs.error().message;
    ASSERT_EQ(jobs->size(), 1u);
    EXPECT_TRUE(jobs->front().overdue);
    auto runs = store->runsForJob("job-1");
    ASSERT_TRUE(runs.ok()) << runs.error().message;
    ASSERT_EQ(runs->size(), 1u);
  }
  EXPECT_EQ(rawScalar(dbPath(), "PRAGMA user_version"), std::to_string(schema::kVersion));
  EXPECT_EQ(schema::kVersion, 6);
  EXPECT_EQ(rawScalar(dbPath(), "SELECT account FROM jobs WHERE id = 'job-1'"), "default");
  EXPECT_EQ(rawScalar(dbPath(), "SELECT account FROM hook_runs WHERE run_id = 7"), "default");
  ASSERT_TRUE(open());  // a second open: nothing left to migrate
}

TEST_F(AccountTest, AFreshDatabaseHasTheSameAccountColumnsAsAMigratedOne) {
  const std::string columns =
      "SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':' || dflt_value, ',') "
      "FROM pragma_table_info('%') WHERE name = 'account'";
  auto column = [&](const char* table) {
    std::string sql = columns;
    sql.replace(sql.find('%'), 1, table);
    return rawScalar(dbPath(), sql);
  };
  ASSERT_TRUE(open());
  EXPECT_EQ(column("jobs"), "account:TEXT:1:'default'");
  EXPECT_EQ(column("hook_runs"), "account:TEXT:1:'default'");
}

}  // namespace
}  // namespace jobwatch::state
