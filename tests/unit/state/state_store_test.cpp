// SPDX-License-Identifier: Apache-2.0
#include "state/state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "state/state_schema.h"
#include "state_test_support.h"
#include "support/fault_injecting_state_store.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using ::testing::HasSubstr;
using testing::rawExec;
using testing::rawScalar;
using testing::readBytes;
using testing::sampleJob;
using testing::sampleRun;
using testing::TempDir;
using testing::writeBytes;

std::unique_ptr<StateStore> openOrDie(const std::filesystem::path& path) {
  auto store = StateStore::open(path);
  if (!store) ADD_FAILURE() << store.error().message;
  return store ? std::move(store).value() : nullptr;
}

Status applyOne(StateStore& store, WriteBatch batch) {
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  return store.apply(batches);
}

void expectSameJob(const StoredJob& a, const StoredJob& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.source, b.source);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.terminal, b.terminal);
  EXPECT_EQ(a.facts.status_raw, b.facts.status_raw);
  EXPECT_EQ(a.facts.type, b.facts.type);
  EXPECT_EQ(a.facts.pdf_name, b.facts.pdf_name);
  EXPECT_EQ(a.facts.pdf_hash, b.facts.pdf_hash);
  EXPECT_EQ(a.facts.error, b.facts.error);
  EXPECT_EQ(a.facts.created_at, b.facts.created_at);
  EXPECT_EQ(a.facts.updated_at, b.facts.updated_at);
  EXPECT_EQ(a.last_body, b.last_body);
  EXPECT_EQ(a.added_at, b.added_at);
  EXPECT_EQ(a.terminal_at, b.terminal_at);
  EXPECT_EQ(a.consecutive_errors, b.consecutive_errors);
}

// Labels that a naive encoding would break.
std::map<std::string, std::string> awkwardLabels() {
  return {
      {"customer", "Müller & Söhne GmbH"},
      {"batch", "2026-11"},
      {"quote\"key", "value with \"quotes\" and \\backslashes\\"},
      {"a=b", "c=d,e;f"},
      {"日本語", "🚀 émoji ✓"},
      {"lines", "one\ntwo\r\nthree\ttab"},
      {"control", std::string("\x01\x1f\x7f", 3)},
      {"nul", std::string("a\0b", 3)},
      {"", "empty key"},
      {"empty value", ""},
      {"{json}", R"({"x": [1, 2]})"},
  };
}

class StateStoreTest : public ::testing::Test {
 protected:
  std::filesystem::path dbPath() const { return dir_ / "state.db"; }

  TempDir dir_;
};

// ---- jobs

TEST_F(StateStoreTest, JobRoundTripsEveryField) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  StoredJob done = sampleJob("job-1");
  done.source = JobSource::kDropDir;
  done.labels = awkwardLabels();
  done.status = "failed";
  done.terminal = true;
  done.facts.status_raw = "FAILED";
  done.facts.error = "OCR engine said: \"no\" — ünïcode";
  done.last_body = R"({"id":"job-1","status":"FAILED","error":"no","note":"日本"})";
  done.added_at = at(1234ms);
  done.terminal_at = at(98765ms);
  done.consecutive_errors = 7;
  StoredJob fresh = sampleJob("job-2");
  fresh.labels = {};
  fresh.facts.created_at = "";

  WriteBatch batch;
  batch.jobs = {done, fresh};
  ASSERT_TRUE(applyOne(*store, batch).ok());

  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 2u);
  expectSameJob((*jobs)[0], done);
  expectSameJob((*jobs)[1], fresh);
  EXPECT_EQ((*jobs)[1].terminal_at, WallTime{});  // not terminal
}

TEST_F(StateStoreTest, UpsertReplacesTheWholeJob) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  StoredJob v1 = sampleJob("job-1");
  v1.labels = {{"a", "1"}, {"b", "2"}};
  v1.consecutive_errors = 3;
  ASSERT_TRUE(applyOne(*store, WriteBatch{{v1}, {}, {}, {}}).ok());
  StoredJob v2 = sampleJob("job-1");
  v2.labels = {{"c", "3"}};
  v2.status = "completed";
  v2.terminal = true;
  v2.terminal_at = at(5s);
  ASSERT_TRUE(applyOne(*store, WriteBatch{{v2}, {}, {}, {}}).ok());

  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  expectSameJob(jobs->front(), v2);
}

TEST_F(StateStoreTest, AnEmptyBodyKeepsTheLastOneForTheJobAndItsRuns) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  StoredJob seen = sampleJob("job-1");
  ASSERT_TRUE(applyOne(*store, WriteBatch{{seen}, {}, {}, {}}).ok());
  // timed_out is the daemon's own status: no new body from the API.
  StoredJob timed_out = seen;
  timed_out.status = "timed_out";
  timed_out.terminal = true;
  timed_out.last_body.clear();
  HookRun run = sampleRun("job-1", "timed_out", "notify");
  run.body.clear();
  ASSERT_TRUE(applyOne(*store, WriteBatch{{timed_out}, {run}, {}, {}}).ok());

  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->front().status, "timed_out");
  EXPECT_EQ(jobs->front().last_body, seen.last_body);
  auto runs = store->runsForJob("job-1");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().body, seen.last_body);
}

TEST_F(StateStoreTest, ForgottenWatchFileJobsLeaveATombstoneUntilRemoved) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  StoredJob from_file = sampleJob("from-file");
  from_file.terminal = true;
  from_file.terminal_at = at(1s);
  StoredJob from_drop = sampleJob("from-drop");
  from_drop.source = JobSource::kDropDir;
  from_drop.terminal = true;
  from_drop.terminal_at = at(1s);
  ASSERT_TRUE(applyOne(*store, WriteBatch{{from_file, from_drop}, {}, {}, {}}).ok());
  // Which jobs are due to be forgotten is the Roster's decision
  // (roster_test.cpp); the store forgets what it is told.
  WriteBatch forget;
  forget.forgotten = {"from-file", "from-drop"};
  ASSERT_TRUE(applyOne(*store, forget).ok());
  EXPECT_TRUE(store->loadJobs()->empty());
  auto tombstones = store->loadForgotten();
  ASSERT_TRUE(tombstones.ok());
  EXPECT_EQ(tombstones.value(), std::vector<std::string>{"from-file"});
  ASSERT_TRUE(applyOne(*store, WriteBatch{{}, {}, {"from-file"}, {}}).ok());
  EXPECT_TRUE(store->loadForgotten()->empty());
}

TEST_F(StateStoreTest, RemovedDeletesTheJobButKeepsItsLedger) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  WriteBatch add;
  add.jobs = {sampleJob("job-1"), sampleJob("job-2")};
  add.new_runs = {sampleRun("job-1", "completed", "notify")};
  ASSERT_TRUE(applyOne(*store, add).ok());
  WriteBatch remove;
  remove.removed = {"job-1", "never-existed"};
  ASSERT_TRUE(applyOne(*store, remove).ok());

  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().id, "job-2");
  auto runs = store->runsForJob("job-1");
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 1u);
  EXPECT_EQ(store->countRuns(HookRunState::kPending).value(), 1u);
}

TEST_F(StateStoreTest, WithinABatchRemovalComesAfterUpsert) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  WriteBatch first;
  first.jobs = {sampleJob("job-1")};
  first.removed = {"job-1"};
  WriteBatch second;
  second.jobs = {sampleJob("job-2")};
  WriteBatch third;
  third.removed = {"job-2"};
  WriteBatch fourth;
  fourth.jobs = {sampleJob("job-2")};
  ASSERT_TRUE(store->apply({first, second, third, fourth}).ok());
  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().id, "job-2");
}

TEST_F(StateStoreTest, EverythingPersistsAcrossReopenInWalMode) {
  StoredJob job = sampleJob("job-1");
  job.labels = awkwardLabels();
  job.overdue = true;  // schema 3: the overdue event is remembered with the job
  HookRun run = sampleRun("job-1", "completed", "notify");
  run.labels = awkwardLabels();
  run.body = R"({"id":"job-1","status":"COMPLETED","x":"ß"})";
  {
    auto store = openOrDie(dbPath());
    ASSERT_TRUE(store);
    EXPECT_EQ(store->path(), dbPath());
    ASSERT_TRUE(applyOne(*store, WriteBatch{{job}, {run}, {}, {}}).ok());
    // While open, a second connection sees WAL mode.
    EXPECT_EQ(rawScalar(dbPath(), "PRAGMA journal_mode"), "wal");
  }
  // A clean close folds the log into the main file.
  EXPECT_FALSE(std::filesystem::exists(dbPath().string() + "-wal"));
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  expectSameJob(jobs->front(), job);
  EXPECT_TRUE(jobs->front().overdue);
  auto runs = store->runsForJob("job-1");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  const HookRun& got = runs->front();
  EXPECT_GT(got.run_id, 0);
  EXPECT_EQ(got.job_id, run.job_id);
  EXPECT_EQ(got.status, run.status);
  EXPECT_EQ(got.hook, run.hook);
  EXPECT_EQ(got.previous_status, run.previous_status);
  EXPECT_EQ(got.facts.status_raw, run.facts.status_raw);
  EXPECT_EQ(got.facts.type, run.facts.type);
  EXPECT_EQ(got.facts.pdf_name, run.facts.pdf_name);
  EXPECT_EQ(got.facts.pdf_hash, run.facts.pdf_hash);
  EXPECT_EQ(got.facts.error, run.facts.error);
  EXPECT_EQ(got.facts.created_at, run.facts.created_at);
  EXPECT_EQ(got.facts.updated_at, run.facts.updated_at);
  EXPECT_EQ(got.labels, run.labels);
  EXPECT_EQ(got.body, run.body);
  EXPECT_EQ(got.state, HookRunState::kPending);
  EXPECT_EQ(got.attempts, 0);
  // The file header says WAL (read/write version 2) and carries our identity.
  const std::string header = readBytes(dbPath()).substr(0, 100);
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
  EXPECT_EQ(rawScalar(dbPath(), "PRAGMA user_version"), std::to_string(schema::kVersion));
  EXPECT_NE(rawScalar(dbPath(), "PRAGMA application_id"), "0");
}

// ---- the hook ledger

TEST_F(StateStoreTest, ARunIsRecordedOnceAcrossBatchesAndRestarts) {
  HookRun first = sampleRun("job-1", "completed", "notify");
  first.previous_status = "processing";
  HookRun again = first;
  again.previous_status = "queued";  // a later, duplicate detection
  {
    auto store = openOrDie(dbPath());
    ASSERT_TRUE(store);
    ASSERT_TRUE(
        store->apply({WriteBatch{{}, {first}, {}, {}}, WriteBatch{{}, {again}, {}, {}}}).ok());
    ASSERT_TRUE(applyOne(*store, WriteBatch{{}, {again}, {}, {}}).ok());
    // Other hooks and statuses are separate runs.
    ASSERT_TRUE(applyOne(*store, WriteBatch{{},
                                            {sampleRun("job-1", "completed", "archive"),
                                             sampleRun("job-1", "failed", "notify")},
                                            {},
                                            {}})
                    .ok());
  }
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  ASSERT_TRUE(applyOne(*store, WriteBatch{{}, {again}, {}, {}}).ok());
  auto runs = store->runsForJob("job-1");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ(runs->front().hook, "notify");
  EXPECT_EQ(runs->front().status, "completed");
  EXPECT_EQ(runs->front().previous_status, "processing");

  // Once it succeeded, a re-detection does not make it run again.
  auto claimed = store->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 3u);
  for (const auto& run : *claimed) {
    ASSERT_TRUE(store->finishRun(run.run_id, RunOutcome::kSucceeded, {}, "").ok());
  }
  ASSERT_TRUE(applyOne(*store, WriteBatch{{}, {again}, {}, {}}).ok());
  EXPECT_TRUE(store->claimDueRuns(at(2h), 10)->empty());
  EXPECT_EQ(store->countRuns(HookRunState::kSucceeded).value(), 3u);
}

TEST_F(StateStoreTest, ClaimMarksRunningAndACrashMakesItDueAgain) {
  {
    auto store = openOrDie(dbPath());
    ASSERT_TRUE(store);
    ASSERT_TRUE(
        applyOne(*store, WriteBatch{{}, {sampleRun("job-1", "completed", "notify")}, {}, {}}).ok());
  }
  // A child process claims the run and dies without closing anything, as
  // the daemon would if killed while the hook runs.
  const pid_t child = ::fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    auto store = StateStore::open(dbPath());
    if (!store) ::_exit(10);
    auto claimed = (*store)->claimDueRuns(at(1s), 10);
    if (!claimed || claimed->size() != 1) ::_exit(11);
    const HookRun& run = claimed->front();
    if (run.state != HookRunState::kRunning || run.attempts != 1) ::_exit(12);
    auto again = (*store)->claimDueRuns(at(1s), 10);  // running is not claimable
    if (!again || !again->empty()) ::_exit(13);
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0);

  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->countRuns(HookRunState::kRunning).value(), 1u);
  EXPECT_TRUE(store->claimDueRuns(at(1s), 10)->empty());
  auto recovered = store->recoverInterruptedRuns();
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(*recovered, 1u);
  EXPECT_EQ(store->countRuns(HookRunState::kRunning).value(), 0u);
  auto claimed = store->claimDueRuns(at(1s), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->front().attempts, 2);
  EXPECT_EQ(store->runsForJob("job-1")->front().attempts, 2);
  EXPECT_EQ(store->recoverInterruptedRuns().value(), 1u);
}

TEST_F(StateStoreTest, RetryIsNotClaimableBeforeItsTime) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  ASSERT_TRUE(
      applyOne(*store, WriteBatch{{}, {sampleRun("job-1", "completed", "notify")}, {}, {}}).ok());
  EXPECT_EQ(store->nextPendingAt().value(), WallTime{});  // new runs are due at once
  auto claimed = store->claimDueRuns(at(0s), 10);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_FALSE(store->nextPendingAt().value().has_value());
  const std::int64_t id = claimed->front().run_id;

  ASSERT_TRUE(store->finishRun(id, RunOutcome::kRetry, at(10s), "exit status 3").ok());
  EXPECT_EQ(store->nextPendingAt().value(), at(10s));
  EXPECT_EQ(store->countRuns(HookRunState::kPending).value(), 1u);
  EXPECT_TRUE(store->claimDueRuns(at(9999ms), 10)->empty());
  auto retried = store->claimDueRuns(at(10s), 10);
  ASSERT_EQ(retried->size(), 1u);
  EXPECT_EQ(retried->front().attempts, 2);
  EXPECT_EQ(retried->front().last_error, "exit status 3");
  EXPECT_EQ(retried->front().not_before, at(10s));

  // A retry time between milliseconds is rounded up, never down.
  ASSERT_TRUE(store->finishRun(id, RunOutcome::kRetry, at(20s) + 300us, "again").ok());
  EXPECT_TRUE(store->claimDueRuns(at(20s), 10)->empty());
  EXPECT_EQ(store->claimDueRuns(at(20001ms), 10)->size(), 1u);
}

TEST_F(StateStoreTest, ClaimRespectsLimitOldestFirst) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> due = {
      {"a", 3s}, {"b", 1s}, {"c", 2s}, {"d", 1s}, {"e", 0s}, {"f", 60s}};
  WriteBatch batch;
  for (const auto& [hook, when] : due) {
    HookRun run = sampleRun("job-1", "completed", hook);
    run.not_before = at(when);
    batch.new_runs.push_back(run);
  }
  ASSERT_TRUE(applyOne(*store, batch).ok());

  const auto hooks = [](const Result<std::vector<HookRun>>& runs) {
    std::vector<std::string> out;
    for (const auto& run : runs.value()) out.push_back(run.hook);
    return out;
  };
  EXPECT_TRUE(store->claimDueRuns(at(10s), 0)->empty());
  EXPECT_EQ(hooks(store->claimDueRuns(at(10s), 2)), (std::vector<std::string>{"e", "b"}));
  EXPECT_EQ(hooks(store->claimDueRuns(at(10s), 2)), (std::vector<std::string>{"d", "c"}));
  EXPECT_EQ(hooks(store->claimDueRuns(at(10s), 5)), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(store->claimDueRuns(at(10s), 5)->empty());
  EXPECT_EQ(store->nextPendingAt().value(), at(60s));
  EXPECT_EQ(store->countRuns(HookRunState::kRunning).value(), 5u);
  EXPECT_EQ(store->countRuns(HookRunState::kPending).value(), 1u);
}

TEST_F(StateStoreTest, FinishAndReleaseRecordOutcomes) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  ASSERT_TRUE(applyOne(*store, WriteBatch{{},
                                          {sampleRun("job-1", "completed", "ok"),
                                           sampleRun("job-1", "completed", "bad"),
                                           sampleRun("job-1", "completed", "interrupted")},
                                          {},
                                          {}})
                  .ok());
  auto claimed = store->claimDueRuns(at(0s), 10);
  ASSERT_EQ(claimed->size(), 3u);
  ASSERT_TRUE(store->finishRun((*claimed)[0].run_id, RunOutcome::kSucceeded, {}, "").ok());
  ASSERT_TRUE(
      store->finishRun((*claimed)[1].run_id, RunOutcome::kFailed, {}, "exit status 1").ok());
  ASSERT_TRUE(store->releaseRun((*claimed)[2].run_id).ok());

  EXPECT_EQ(store->countRuns(HookRunState::kSucceeded).value(), 1u);
  EXPECT_EQ(store->countRuns(HookRunState::kFailed).value(), 1u);
  EXPECT_EQ(store->countRuns(HookRunState::kPending).value(), 1u);
  auto runs = store->runsForJob("job-1");
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[1].state, HookRunState::kFailed);
  EXPECT_EQ((*runs)[1].last_error, "exit status 1");
  EXPECT_EQ((*runs)[2].attempts, 1);  // release does not count as a finished attempt...
  auto again = store->claimDueRuns(at(0s), 10);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().hook, "interrupted");
  EXPECT_EQ(again->front().attempts, 2);  // ...but the next run says it is a repeat

  // Finishing what is not running is a bug in the caller, reported clearly.
  auto twice = store->finishRun((*claimed)[0].run_id, RunOutcome::kFailed, {}, "");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.error().message, HasSubstr(dbPath().string()));
  EXPECT_THAT(twice.error().message, HasSubstr("is not running (it is succeeded)"));
  EXPECT_EQ(store->countRuns(HookRunState::kSucceeded).value(), 1u);
  auto missing = store->releaseRun(999);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("hook run 999 does not exist"));
}

TEST_F(StateStoreTest, ForgetRemovesOnlyOldTerminalJobsAndTheirFinishedRuns) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  const auto terminalJob = [](const std::string& id, WallTime when) {
    StoredJob job = sampleJob(id);
    job.status = "completed";
    job.terminal = true;
    job.terminal_at = when;
    return job;
  };
  StoredJob old_done = terminalJob("old-done", at(0s));
  StoredJob old_busy = terminalJob("old-busy", at(0s));  // has unfinished runs
  StoredJob recent = terminalJob("recent", at(100s));
  StoredJob live = sampleJob("live");  // not terminal, however old
  live.added_at = at(-1000h);
  WriteBatch batch;
  batch.jobs = {old_done, old_busy, recent, live};
  batch.new_runs = {
      sampleRun("old-done", "completed", "ok"),      sampleRun("old-done", "completed", "bad"),
      sampleRun("old-busy", "completed", "ok"),      sampleRun("old-busy", "completed", "retrying"),
      sampleRun("old-busy", "completed", "running"), sampleRun("old-busy", "completed", "waiting"),
      sampleRun("recent", "completed", "ok")};
  ASSERT_TRUE(applyOne(*store, batch).ok());
  // Drive each run to the state its hook name says.
  auto claimed = store->claimDueRuns(at(0s), 100);
  ASSERT_EQ(claimed->size(), 7u);
  for (const auto& run : *claimed) {
    Status s = Ok{};
    if (run.hook == "ok") s = store->finishRun(run.run_id, RunOutcome::kSucceeded, {}, "");
    if (run.hook == "bad") s = store->finishRun(run.run_id, RunOutcome::kFailed, {}, "x");
    if (run.hook == "retrying") s = store->finishRun(run.run_id, RunOutcome::kRetry, at(1h), "x");
    if (run.hook == "waiting") s = store->releaseRun(run.run_id);
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  // The Roster picks the jobs that finished before the cutoff
  // (roster_test.cpp); the store deletes them and their finished runs.
  WriteBatch forget;
  forget.forgotten = {"old-busy", "old-done"};
  ASSERT_TRUE(applyOne(*store, forget).ok());

  std::vector<std::string> left;
  auto jobs = store->loadJobs();
  for (const auto& job : jobs.value()) left.push_back(job.id);
  EXPECT_EQ(left, (std::vector<std::string>{"live", "recent"}));
  EXPECT_TRUE(store->runsForJob("old-done")->empty());
  std::vector<std::string> busy_left;
  auto busy_runs = store->runsForJob("old-busy");
  for (const auto& run : busy_runs.value()) busy_left.push_back(run.hook);
  EXPECT_EQ(busy_left, (std::vector<std::string>{"retrying", "running", "waiting"}));
  EXPECT_EQ(store->runsForJob("recent")->size(), 1u);
  // Forgetting again changes nothing.
  ASSERT_TRUE(applyOne(*store, forget).ok());
  EXPECT_EQ(store->loadJobs()->size(), 2u);
  EXPECT_EQ(store->runsForJob("old-busy")->size(), 3u);
}

TEST_F(StateStoreTest, AFailedCommitChangesNothingAndNamesTheFile) {
  auto opened = openOrDie(dbPath());
  ASSERT_TRUE(opened);
  auto store = std::make_unique<testing_support::FaultInjectingStateStore>(std::move(opened));
  store->failNextCommits(1);
  auto failed = applyOne(
      *store, WriteBatch{{sampleJob("job-1")}, {sampleRun("job-1", "failed", "h")}, {}, {}});
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error().message, HasSubstr(dbPath().string() + ": "));
  EXPECT_THAT(failed.error().message, HasSubstr("(while committing)"));
  EXPECT_TRUE(store->loadJobs()->empty());
  EXPECT_EQ(store->countRuns(HookRunState::kPending).value(), 0u);
  ASSERT_TRUE(applyOne(*store, WriteBatch{{sampleJob("job-1")}, {}, {}, {}}).ok());
  EXPECT_EQ(store->loadJobs()->size(), 1u);
}

TEST_F(StateStoreTest, TenThousandUpsertsInOneTransaction) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  WriteBatch batch;
  for (int i = 0; i < 10'000; ++i) {
    StoredJob job = sampleJob("job-" + std::to_string(i));
    job.labels = {{"customer", "acme"}, {"batch", std::to_string(i % 17)}};
    job.last_body.append(300, 'x');  // a realistic body size
    batch.jobs.push_back(std::move(job));
  }
  for (int i = 0; i < 1'000; ++i) {
    batch.new_runs.push_back(sampleRun("job-" + std::to_string(i), "completed", "notify"));
  }
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(applyOne(*store, batch).ok());
  const auto inserted = std::chrono::steady_clock::now();
  ASSERT_TRUE(applyOne(*store, batch).ok());  // the same again: all updates, runs kept
  const auto updated = std::chrono::steady_clock::now();
  auto jobs = store->loadJobs();
  const auto loaded = std::chrono::steady_clock::now();
  ASSERT_EQ(jobs->size(), 10'000u);
  EXPECT_EQ(store->countRuns(HookRunState::kPending).value(), 1'000u);

  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  std::printf(
      "[timing] 10k job inserts + 1k runs: %lld ms; 10k upserts + 1k duplicate runs: %lld ms; "
      "loadJobs(10k): %lld ms\n",
      static_cast<long long>(ms(inserted - start)), static_cast<long long>(ms(updated - inserted)),
      static_cast<long long>(ms(loaded - updated)));
  // Generous: one transaction should take well under a second.
  EXPECT_LT(updated - start, 20s);
}

// ---- schema migrations

// A state database as jobwatchd with schema version 1 wrote it: labels as
// JSON objects in jobs.labels and hook_runs.labels (escapes as its own
// encoder wrote them, and as a hand edit might).
constexpr const char* kVersion1Database = R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE jobs (
  id TEXT PRIMARY KEY NOT NULL, source INTEGER NOT NULL CHECK (source IN (0, 1)),
  labels TEXT NOT NULL, status TEXT NOT NULL, terminal INTEGER NOT NULL CHECK (terminal IN (0, 1)),
  status_raw TEXT NOT NULL, type TEXT NOT NULL, pdf_name TEXT NOT NULL, pdf_hash TEXT NOT NULL,
  error TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  last_body TEXT NOT NULL, added_at_ms INTEGER NOT NULL, terminal_at_ms INTEGER,
  consecutive_errors INTEGER NOT NULL);
CREATE INDEX jobs_terminal_at ON jobs (terminal_at_ms) WHERE terminal = 1;
CREATE TABLE hook_runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, status TEXT NOT NULL,
  hook TEXT NOT NULL, previous_status TEXT NOT NULL, status_raw TEXT NOT NULL,
  type TEXT NOT NULL, pdf_name TEXT NOT NULL, pdf_hash TEXT NOT NULL, error TEXT NOT NULL,
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, labels TEXT NOT NULL, body TEXT NOT NULL,
  state INTEGER NOT NULL CHECK (state IN (0, 1, 2, 3)), attempts INTEGER NOT NULL,
  not_before_ms INTEGER NOT NULL, last_error TEXT NOT NULL, created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL, UNIQUE (job_id, status, hook));
CREATE INDEX hook_runs_due ON hook_runs (state, not_before_ms);
CREATE TABLE forgotten_jobs (id TEXT PRIMARY KEY NOT NULL, forgotten_at_ms INTEGER NOT NULL);
INSERT INTO jobs VALUES ('job-1', 0,
  '{"customer":"M\u00fcller \"&\" S\u00f6hne","lines":"one\ntwo\ttab","path":"a\/b\\c","rocket":"\ud83d\ude80","ctl":"\u0001\u007f"}',
  'completed', 1, 'COMPLETED', 'extraction', 'report.pdf', 'sha256:abc', '',
  '2024-01-15T10:30:00.000Z', '2024-01-15T10:32:00.000Z', '{"id":"job-1"}',
  1800000000000, 1800000005000, 0);
INSERT INTO jobs VALUES ('job-2', 1, '{}', 'queued', 0, 'QUEUED', 'extraction', 'b.pdf',
  'sha256:def', '', '', '', '', 1800000000000, NULL, 2);
INSERT INTO hook_runs VALUES (7, 'job-1', 'completed', 'notify', 'processing', 'COMPLETED',
  'extraction', 'report.pdf', 'sha256:abc', '', '2024-01-15T10:30:00.000Z',
  '2024-01-15T10:32:00.000Z', '{"customer":"acme","batch":"2026-11"}', '{"id":"job-1"}',
  0, 1, 1800000006000, 'exit 1', 1800000005000, 1800000006000);
INSERT INTO forgotten_jobs VALUES ('job-0', 1799999999000);
PRAGMA application_id = 1247241064;
PRAGMA user_version = 1;
)sql";

TEST_F(StateStoreTest, AVersion1DatabaseIsMigratedAndReadsAsBefore) {
  rawExec(dbPath(), kVersion1Database);
  {
    auto store = openOrDie(dbPath());
    ASSERT_TRUE(store);
    auto jobs = store->loadJobs();
    ASSERT_TRUE(jobs.ok()) << jobs.error().message;
    ASSERT_EQ(jobs->size(), 2u);
    const StoredJob& one = (*jobs)[0];
    EXPECT_EQ(one.id, "job-1");
    EXPECT_EQ(one.labels, (status::Labels{{"customer", "Müller \"&\" Söhne"},
                                          {"lines", "one\ntwo\ttab"},
                                          {"path", "a/b\\c"},
                                          {"rocket", "🚀"},
                                          {"ctl", "\x01\x7f"}}));
    EXPECT_EQ(one.status, "completed");
    EXPECT_TRUE(one.terminal);
    EXPECT_EQ(one.terminal_at, at(5s));
    EXPECT_EQ(one.last_body, R"({"id":"job-1"})");
    EXPECT_EQ((*jobs)[1].id, "job-2");
    EXPECT_TRUE((*jobs)[1].labels.empty());
    EXPECT_EQ((*jobs)[1].source, JobSource::kDropDir);
    EXPECT_EQ((*jobs)[1].consecutive_errors, 2);
    auto runs = store->runsForJob("job-1");
    ASSERT_TRUE(runs.ok()) << runs.error().message;
    ASSERT_EQ(runs->size(), 1u);
    EXPECT_EQ(runs->front().run_id, 7);
    EXPECT_EQ(runs->front().labels, (status::Labels{{"batch", "2026-11"}, {"customer", "acme"}}));
    EXPECT_EQ(runs->front().attempts, 1);
    EXPECT_EQ(runs->front().last_error, "exit 1");
    EXPECT_EQ(store->loadForgotten().value(), (std::vector<std::string>{"job-0"}));
    // Written after the migration, read back the same.
    StoredJob three = sampleJob("job-3");
    three.labels = awkwardLabels();
    ASSERT_TRUE(applyOne(*store, WriteBatch{{three}, {}, {}, {}}).ok());
  }
  EXPECT_EQ(rawScalar(dbPath(), "PRAGMA user_version"), std::to_string(schema::kVersion));
  EXPECT_EQ(rawScalar(dbPath(),
                      "SELECT count(*) FROM pragma_table_info('jobs') "
                      "WHERE name = 'labels'"),
            "0");
  auto store = openOrDie(dbPath());  // a second open: nothing left to migrate
  ASSERT_TRUE(store);
  auto jobs = store->loadJobs();
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[2].labels, awkwardLabels());
}

TEST_F(StateStoreTest, AVersion1DatabaseWithUnreadableLabelsIsRefusedUnchanged) {
  rawExec(dbPath(), kVersion1Database);
  rawExec(dbPath(), "UPDATE jobs SET labels = '{\"a\": ' WHERE id = 'job-2'");
  auto store = StateStore::open(dbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": "));
  EXPECT_THAT(store.error().message, HasSubstr("migrating the schema from version 1 to 2"));
  EXPECT_EQ(store.error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(rawScalar(dbPath(), "PRAGMA user_version"), "1");
}

// ---- files that are not ours, damaged, or out of reach

class RefusedFileTest : public StateStoreTest {
 protected:
  // Opening must fail with a message naming the file and containing `what`,
  // and must leave the file's bytes exactly as they were.
  void expectRefused(const std::string& what) {
    const std::string before = readBytes(dbPath());
    auto store = StateStore::open(dbPath());
    ASSERT_FALSE(store.ok()) << "opened a file that should be refused";
    EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": "));
    EXPECT_THAT(store.error().message, HasSubstr(what));
    // Not ours, corrupt, newer: restarting does not help (exit 1).
    EXPECT_EQ(store.error().kind, ErrorKind::kBadInput);
    EXPECT_EQ(readBytes(dbPath()), before) << "the refused file was modified";
  }

  // A real state database with enough data to span many pages, closed.
  void writeRealDatabase() {
    auto store = openOrDie(dbPath());
    ASSERT_TRUE(store);
    WriteBatch batch;
    for (int i = 0; i < 300; ++i) {
      StoredJob job = sampleJob("job-" + std::to_string(i));
      job.last_body.append(200, 'x');
      batch.jobs.push_back(std::move(job));
      batch.new_runs.push_back(sampleRun("job-" + std::to_string(i), "completed", "notify"));
    }
    ASSERT_TRUE(applyOne(*store, batch).ok());
  }
};

TEST_F(RefusedFileTest, GarbageTextFile) {
  writeBytes(dbPath(),
             "this is not a database, just a note someone left here\n" + std::string(5000, 'z'));
  expectRefused("not a jobwatchd state database (file is not a database); ");
}

TEST_F(RefusedFileTest, DamagedPage) {
  writeRealDatabase();
  std::string bytes = readBytes(dbPath());
  ASSERT_GT(bytes.size(), 3u * 4096u);
  for (size_t i = 4096; i < 4096 + 64; ++i) bytes[i] = static_cast<char>(0xA5 ^ (i * 7));
  writeBytes(dbPath(), bytes);
  expectRefused("state database is corrupt");
}

TEST_F(RefusedFileTest, TruncatedDatabase) {
  writeRealDatabase();
  const std::string bytes = readBytes(dbPath());
  ASSERT_GT(bytes.size(), 8u * 4096u);
  writeBytes(dbPath(), bytes.substr(0, bytes.size() / 2 + 1000));
  expectRefused("state database is corrupt");
}

TEST_F(RefusedFileTest, TruncatedToLessThanAPage) {
  writeRealDatabase();
  writeBytes(dbPath(), readBytes(dbPath()).substr(0, 1000));
  const std::string before = readBytes(dbPath());
  auto store = StateStore::open(dbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": "));
  EXPECT_EQ(readBytes(dbPath()), before);
}

TEST_F(RefusedFileTest, ForeignSqliteDatabase) {
  rawExec(dbPath(),
          "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT);"
          "INSERT INTO customers (name) VALUES ('acme');");
  expectRefused(
      "not a jobwatchd state database (an SQLite database with other tables: \"customers\")");
  EXPECT_EQ(rawScalar(dbPath(), "SELECT name FROM customers"), "acme");
}

TEST_F(RefusedFileTest, ForeignApplicationId) {
  rawExec(dbPath(), "PRAGMA application_id = 1234;");
  expectRefused("an SQLite database of another application, id 0x000004d2");
}

TEST_F(RefusedFileTest, NewerSchemaVersion) {
  { ASSERT_TRUE(openOrDie(dbPath())); }
  const std::string newer = std::to_string(schema::kVersion + 1);
  rawExec(dbPath(), "PRAGMA user_version = " + newer + ";");
  expectRefused("schema version " + newer + ", newer than this jobwatchd understands (" +
                std::to_string(schema::kVersion) + ")");
}

TEST_F(StateStoreTest, LeftoverWriteAheadLogIsNotReplayedIntoANewDatabase) {
  // A process writes and dies, leaving its commits in state.db-wal; then
  // state.db alone is moved away. SQLite discards a log whose database is
  // empty, so the new database starts clean instead of inheriting jobs.
  const pid_t child = ::fork();
  ASSERT_NE(child, -1);
  if (child == 0) {
    auto store = StateStore::open(dbPath());
    if (!store) ::_exit(10);
    if (!applyOne(**store, WriteBatch{{sampleJob("ghost")}, {}, {}, {}}).ok()) ::_exit(11);
    ::_exit(0);
  }
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  const std::filesystem::path wal = dbPath().string() + "-wal";
  ASSERT_GT(std::filesystem::file_size(wal), 0u);
  std::filesystem::rename(dbPath(), dir_ / "moved-away.db");

  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->loadJobs()->empty());
}

TEST_F(StateStoreTest, MissingDirectoryIsNamed) {
  const auto path = dir_ / "no-such-dir" / "state.db";
  auto store = StateStore::open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, HasSubstr(path.string() + ": "));
  EXPECT_THAT(store.error().message, HasSubstr("No such file or directory"));
  EXPECT_EQ(store.error().kind, ErrorKind::kBadInput);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "no-such-dir"));
}

TEST_F(StateStoreTest, PathThatIsADirectoryIsNamed) {
  std::filesystem::create_directory(dbPath());
  auto store = StateStore::open(dbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": cannot open state database"));
}

TEST_F(StateStoreTest, ReadOnlyFileIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  { ASSERT_TRUE(openOrDie(dbPath())); }
  ASSERT_EQ(::chmod(dbPath().c_str(), 0444), 0);
  auto store = StateStore::open(dbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message,
              HasSubstr(dbPath().string() + ": cannot open state database for writing"));
  EXPECT_EQ(store.error().kind, ErrorKind::kBadInput);
}

TEST_F(StateStoreTest, UnreadableFileIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  { ASSERT_TRUE(openOrDie(dbPath())); }
  ASSERT_EQ(::chmod(dbPath().c_str(), 0), 0);
  auto store = StateStore::open(dbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": "));
  EXPECT_THAT(store.error().message, HasSubstr("Permission denied"));
  EXPECT_EQ(store.error().kind, ErrorKind::kBadInput);  // EACCES: the operator's to fix
}

TEST_F(StateStoreTest, UnwritableDirectoryIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0555), 0);
  auto store = StateStore::open(dbPath());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": "));
}

// ---- a database another process holds locked (issue 18 #1)

// Holds BEGIN EXCLUSIVE on the file from another connection, as an
// operator's sqlite3 shell or a backup tool would, until release().
class ExternalLock {
 public:
  explicit ExternalLock(const std::filesystem::path& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  ~ExternalLock() { release(); }
  void release() {
    if (db_ == nullptr) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST_F(StateStoreTest, ALockedDatabaseIsWaitedForAndOpensOnceReleased) {
  { ASSERT_TRUE(openOrDie(dbPath())); }
  ExternalLock lock(dbPath());
  std::vector<std::string> waits;
  OpenOptions options;
  options.max_wait = 60s;
  options.on_wait = [&](const Error& error, std::chrono::milliseconds) {
    EXPECT_EQ(error.kind, ErrorKind::kRuntime);
    waits.push_back(error.message);
    lock.release();  // the operator ends the transaction
  };
  SystemClock clock;
  auto store = StateStore::open(dbPath(), clock, options);
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_THAT(waits[0], HasSubstr(dbPath().string() + ": database is locked"));
  EXPECT_TRUE(applyOne(**store, WriteBatch{{sampleJob("job-1")}, {}, {}, {}}).ok());
}

TEST_F(StateStoreTest, ALockedDatabaseBeyondTheBoundIsARuntimeError) {
  { ASSERT_TRUE(openOrDie(dbPath())); }
  ExternalLock lock(dbPath());
  OpenOptions options;
  options.max_wait = 0s;  // one attempt: SQLite's busy timeout only
  SystemClock clock;
  auto store = StateStore::open(dbPath(), clock, options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().kind, ErrorKind::kRuntime);  // exit 3: systemd restarts
  EXPECT_THAT(store.error().message, HasSubstr(dbPath().string() + ": database is locked"));
  EXPECT_THAT(store.error().message, HasSubstr("still locked by another process"));
}

TEST_F(StateStoreTest, AFailedWriteOnALockedDatabaseIsARuntimeError) {
  auto store = openOrDie(dbPath());
  ASSERT_TRUE(store);
  ExternalLock lock(dbPath());
  auto failed = applyOne(*store, WriteBatch{{sampleJob("job-1")}, {}, {}, {}});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ErrorKind::kRuntime);
  EXPECT_THAT(failed.error().message, HasSubstr("database is locked"));
}

}  // namespace
}  // namespace jobwatch::state
