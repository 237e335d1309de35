// SPDX-License-Identifier: Apache-2.0
// Accounts in the state store (SPEC "Accounts"): a job's account is bound
// by its first row and never changed by a later write (in the store, and
// in the writer's queue); hook runs keep the account they were recorded
// with, in every query that returns runs; pending results name their
// job's account; a version-5 database migrates with every row 'default'.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "state/state_reader.h"
#include "state/state_schema.h"
#include "state/state_store.h"
#include "state/state_writer.h"
#include "state_test_support.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::rawExec;
using testing::rawScalar;
using testing::sampleJob;
using testing::sampleRun;

class AccountTest : public testing::StoreFixture {
 protected:
  static StoredJob jobOf(const std::string& id, const std::string& account) {
    StoredJob job = sampleJob(id);
    job.account = account;
    return job;
  }

  static HookRun runOf(const std::string& job_id, const std::string& hook,
                       const std::string& account) {
    HookRun run = sampleRun(job_id, "completed", hook);
    run.account = account;
    run.not_before = at(0ms);
    return run;
  }

  static std::string accountOf(StateStore& store, const std::string& id) {
    auto jobs = store.loadJobs();
    EXPECT_TRUE(jobs.ok()) << jobs.error().message;
    for (const auto& job : jobs.value()) {
      if (job.id == id) return job.account;
    }
    ADD_FAILURE() << "no job " << id;
    return {};
  }
};

TEST_F(AccountTest, AJobKeepsTheAccountOfItsFirstRow) {
  auto store = open();
  ASSERT_TRUE(store);
  apply(*store, WriteBatch{{jobOf("a", "team-b"), sampleJob("d")}, {}, {}, {}});
  EXPECT_EQ(accountOf(*store, "a"), "team-b");
  EXPECT_EQ(accountOf(*store, "d"), "default") << "a job without one belongs to default";

  // A later write of the job (a status change, by a writer that carries
  // another account) changes the job but never its account.
  StoredJob moved = jobOf("a", "team-c");
  moved.status = "completed";
  moved.terminal = true;
  moved.terminal_at = at(5s);
  apply(*store, WriteBatch{{moved}, {}, {}, {}});
  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ(jobs->front().status, "completed");
  EXPECT_EQ(jobs->front().account, "team-b");

  store.reset();
  store = open();  // across a restart
  ASSERT_TRUE(store);
  EXPECT_EQ(accountOf(*store, "a"), "team-b");

  // A job removed from the watch list and added again binds afresh.
  apply(*store, WriteBatch{{}, {}, {"a"}, {}});
  apply(*store, WriteBatch{{jobOf("a", "team-c")}, {}, {}, {}});
  EXPECT_EQ(accountOf(*store, "a"), "team-c");
}

TEST_F(AccountTest, TheWritersQueueKeepsTheFirstAccountOfAMergedRow) {
  auto store = open();
  ASSERT_TRUE(store);
  Log log{LogFormat::kText, LogLevel::kError, std::cerr};
  ManualClock clock;
  StateWriter writer(*store, log, clock, nullptr);  // not started: rows stay queued
  writer.enqueue(WriteBatch{{jobOf("a", "team-b")}, {}, {}, {}});
  StoredJob later = jobOf("a", "default");
  later.status = "completed";
  writer.enqueue(WriteBatch{{later}, {}, {}, {}});
  EXPECT_EQ(writer.queuedRows(), 1u) << "merged into one row";
  EXPECT_TRUE(writer.stop(10s));
  auto jobs = store->loadJobs();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().status, "completed");
  EXPECT_EQ(jobs->front().account, "team-b");
}

TEST_F(AccountTest, HookRunsKeepTheirAccountInEveryQuery) {
  auto store = open();
  ASSERT_TRUE(store);
  apply(*store, WriteBatch{{jobOf("a", "team-b"), sampleJob("d")},
                           {runOf("a", "notify", "team-b"), runOf("d", "notify", "default")},
                           {},
                           {}});
  // An existing (job, status, hook) row stands, account included.
  apply(*store, WriteBatch{{}, {runOf("a", "notify", "team-c")}, {}, {}});

  auto for_job = store->runsForJob("a");
  ASSERT_TRUE(for_job.ok()) << for_job.error().message;
  ASSERT_EQ(for_job->size(), 1u);
  EXPECT_EQ(for_job->front().account, "team-b");

  auto claimed = store->claimDueRuns(at(1s), 10);
  ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 2u);
  for (const HookRun& run : *claimed) {
    EXPECT_EQ(run.account, run.job_id == "a" ? "team-b" : "default") << run.job_id;
    ASSERT_TRUE(store->finishRun(run.run_id, RunOutcome::kFailed, {}, "exit 1").ok());
  }
  auto failed = store->recentRuns(HookRunState::kFailed, 10);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->size(), 2u);
  for (const HookRun& run : *failed) {
    EXPECT_EQ(run.account, run.job_id == "a" ? "team-b" : "default") << run.job_id;
  }

  {
    auto reader = StateReader::open(dbPath());
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    EXPECT_EQ((*reader)->runsForJob("a")->front().account, "team-b");
    auto in_state = (*reader)->runsInState(HookRunState::kFailed, 10);
    ASSERT_EQ(in_state->size(), 2u);
    for (const HookRun& run : *in_state) {
      EXPECT_EQ(run.account, run.job_id == "a" ? "team-b" : "default") << run.job_id;
    }
    auto jobs = (*reader)->jobs();
    ASSERT_EQ(jobs->size(), 2u);
    EXPECT_EQ(jobs->front().account, "team-b");
    EXPECT_EQ(jobs->back().account, "default");
  }

  auto retried = store->retryFailedRuns({"a:completed"});
  ASSERT_TRUE(retried.ok());
  ASSERT_EQ(retried->size(), 1u);
  EXPECT_EQ(retried->front().account, "team-b");
}

TEST_F(AccountTest, PendingResultsNameTheirJobsAccount) {
  auto store = open();
  ASSERT_TRUE(store);
  ResultRecord wanted;
  wanted.since = at(0ms);
  wanted.next_try = at(0ms);
  WriteBatch batch{{jobOf("a", "team-b"), sampleJob("d")}, {}, {}, {}};
  for (const char* id : {"a", "d", "gone"}) {
    wanted.job_id = id;
    wanted.account = "ignored";  // not stored with the result: the job's row says
    batch.results.push_back(wanted);
  }
  apply(*store, std::move(batch));
  auto pending = store->loadPendingResults();
  ASSERT_TRUE(pending.ok()) << pending.error().message;
  ASSERT_EQ(pending->size(), 3u);
  for (const ResultRecord& r : *pending) {
    EXPECT_EQ(r.account, r.job_id == "a" ? "team-b" : "default") << r.job_id;
  }
  EXPECT_EQ(store->resultFor("a").value()->account, "team-b");
}

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
    EXPECT_EQ(jobs->front().id, "job-1");
    EXPECT_EQ(jobs->front().account, "default");
    EXPECT_TRUE(jobs->front().overdue);
    EXPECT_EQ(jobs->front().labels, (status::Labels{{"customer", "acme"}}));
    auto runs = store->runsForJob("job-1");
    ASSERT_TRUE(runs.ok()) << runs.error().message;
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ(runs->front().run_id, 7);
    EXPECT_EQ(runs->front().account, "default");
    EXPECT_EQ(runs->front().last_error, "exit 1");
    auto pending = store->loadPendingResults();
    ASSERT_EQ(pending->size(), 1u);
    EXPECT_EQ(pending->front().account, "default");
    EXPECT_EQ(pending->front().error, "HTTP 503");
    // Written after the migration: the account is kept.
    apply(*store, WriteBatch{{jobOf("job-2", "team-b")}, {runOf("job-2", "n", "team-b")}, {}, {}});
  }
  EXPECT_EQ(rawScalar(dbPath(), "PRAGMA user_version"), std::to_string(schema::kVersion));
  EXPECT_EQ(schema::kVersion, 6);
  EXPECT_EQ(rawScalar(dbPath(), "SELECT count(*) FROM jobs WHERE account = 'default'"), "1");
  EXPECT_EQ(rawScalar(dbPath(), "SELECT account FROM hook_runs WHERE job_id = 'job-2'"), "team-b");
  auto store = open();  // a second open: nothing left to migrate
  ASSERT_TRUE(store);
  EXPECT_EQ(accountOf(*store, "job-2"), "team-b");
  EXPECT_EQ(accountOf(*store, "job-1"), "default");
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
