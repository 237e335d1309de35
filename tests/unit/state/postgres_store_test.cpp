// SPDX-License-Identifier: Apache-2.0
// The StateStore contract on PostgreSQL: the behaviour the SQLite store's
// tests prove (state_store_test.cpp, result_ledger_test.cpp,
// job_history_test.cpp, account_test.cpp), on a store that holds its jobs
// (a lone fleet member claims every registered job).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "postgres_test_support.h"
#include "state/postgres_state_store.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using ::testing::HasSubstr;
using testing::sampleJob;
using testing::sampleRun;

class PostgresStoreTest : public testing::PostgresFixture {
 protected:
  void SetUp() override {
    PostgresFixture::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    store_ = open("a");
    ASSERT_TRUE(store_);
  }
  void TearDown() override {
    store_.reset();
    PostgresFixture::TearDown();
  }
  static ResultRecord result(const std::string& job_id, ResultState state, std::string text = {}) {
    ResultRecord r;
    r.job_id = job_id;
    r.state = state;
    (state == ResultState::kDone ? r.file : r.error) = std::move(text);
    r.since = at(0ms);
    r.next_try = at(5ms);
    return r;
  }
  std::unique_ptr<StateStore> store_;
};

TEST_F(PostgresStoreTest, AJobRoundTripsAndAnUpsertReplacesItButNotItsAccount) {
  StoredJob v1 = sampleJob("job-1");
  v1.labels = {{"a", "1"}, {"quote\"key", "Müller \\ \"x\""}, {"empty", ""}};
  v1.account = "acme";
  v1.consecutive_errors = 3;
  adopt(*store_, std::vector<StoredJob>{v1});
  auto jobs = store_->loadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().labels, v1.labels);
  EXPECT_EQ(jobs->front().account, "acme");
  EXPECT_EQ(jobs->front().consecutive_errors, 3);
  EXPECT_EQ(jobs->front().added_at, v1.added_at);
  EXPECT_EQ(jobs->front().facts.pdf_hash, v1.facts.pdf_hash);

  StoredJob v2 = sampleJob("job-1");
  v2.labels = {{"c", "3"}};
  v2.status = "completed";
  v2.terminal = true;
  v2.terminal_at = at(5s);
  v2.overdue = true;
  v2.account = "other";  // the first binding stays
  ASSERT_TRUE(applyOne(*store_, WriteBatch{{v2}, {}, {}, {}}).ok());
  jobs = store_->loadJobs();
  ASSERT_EQ(jobs->size(), 1u);
  const StoredJob& got = jobs->front();
  EXPECT_EQ(got.status, "completed");
  EXPECT_TRUE(got.terminal);
  EXPECT_EQ(got.terminal_at, at(5s));
  EXPECT_TRUE(got.overdue);
  EXPECT_EQ(got.labels, v2.labels);
  EXPECT_EQ(got.account, "acme");
  EXPECT_EQ(got.consecutive_errors, 0);
}

TEST_F(PostgresStoreTest, RegisteredJobsAreInsertedOnceAndHeldByNobody) {
  StoredJob first = sampleJob("job-1");
  first.status = "queued";
  WriteBatch batch;
  batch.registered = {first};
  ASSERT_TRUE(applyOne(*store_, batch).ok());
  StoredJob again = sampleJob("job-1");
  again.status = "processing";
  batch.registered = {again};
  ASSERT_TRUE(applyOne(*store_, batch).ok());
  EXPECT_EQ(scalar("SELECT status || ',' || (owner IS NULL)::text FROM jobs"), "queued,true");
  EXPECT_TRUE(store_->loadJobs()->empty());  // not held until a tick claims it
  auto tick = store_->fleetTick({});
  ASSERT_TRUE(tick.ok()) << tick.error().message;
  ASSERT_EQ(tick->claimed.size(), 1u);
  EXPECT_EQ(tick->claimed.front().status, "queued");
  EXPECT_EQ(tick->claimed.front().labels, first.labels);
}

TEST_F(PostgresStoreTest, AnEmptyBodyKeepsTheLastOneForTheJobAndItsRuns) {
  StoredJob seen = sampleJob("job-1");
  adopt(*store_, std::vector<StoredJob>{seen});
  StoredJob timed_out = seen;
  timed_out.status = "timed_out";
  timed_out.last_body.clear();
  HookRun run = sampleRun("job-1", "timed_out", "notify");
  run.body.clear();
  ASSERT_TRUE(applyOne(*store_, WriteBatch{{timed_out}, {run}, {}, {}}).ok());
  EXPECT_EQ(store_->loadJobs()->front().last_body, seen.last_body);
  auto runs = store_->runsForJob("job-1");
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().body, seen.last_body);
  EXPECT_EQ(runs->front().labels, run.labels);
}

TEST_F(PostgresStoreTest, WithinABatchRemovalComesAfterUpsertAndTombstonesWaitForRemoval) {
  StoredJob from_file = sampleJob("from-file");
  from_file.terminal = true;
  StoredJob from_drop = sampleJob("from-drop");
  from_drop.source = JobSource::kDropDir;
  adopt(*store_,
        std::vector<StoredJob>{from_file, from_drop, sampleJob("job-1"), sampleJob("job-2")});
  WriteBatch first;
  first.jobs = {sampleJob("job-1")};
  first.removed = {"job-1", "never-existed"};
  WriteBatch forget;
  forget.forgotten = {"from-file", "from-drop"};
  ASSERT_TRUE(store_->apply({first, forget}).ok());
  auto jobs = store_->loadJobs();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().id, "job-2");
  EXPECT_EQ(store_->loadForgotten().value(), std::vector<std::string>{"from-file"});
  ASSERT_TRUE(applyOne(*store_, WriteBatch{{}, {}, {"from-file"}, {}}).ok());
  EXPECT_TRUE(store_->loadForgotten()->empty());
}

TEST_F(PostgresStoreTest, ARunIsRecordedOnceAndFinishedRunsAreNotRunAgain) {
  adopt(*store_, std::vector<std::string>{"job-1"});
  HookRun first = sampleRun("job-1", "completed", "notify");
  HookRun again = first;
  again.previous_status = "queued";
  ASSERT_TRUE(
      store_->apply({WriteBatch{{}, {first}, {}, {}}, WriteBatch{{}, {again}, {}, {}}}).ok());
  ASSERT_TRUE(applyOne(*store_, WriteBatch{{},
                                           {sampleRun("job-1", "completed", "archive"),
                                            sampleRun("job-1", "failed", "notify")},
                                           {},
                                           {}})
                  .ok());
  auto runs = store_->runsForJob("job-1");
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ(runs->front().previous_status, "processing");
  auto claimed = store_->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  ASSERT_EQ(claimed->size(), 3u);
  for (const auto& run : *claimed) {
    ASSERT_TRUE(store_->finishRun(run.run_id, RunOutcome::kSucceeded, {}, "").ok());
  }
  ASSERT_TRUE(applyOne(*store_, WriteBatch{{}, {again}, {}, {}}).ok());
  EXPECT_TRUE(store_->claimDueRuns(at(2h), 10)->empty());
  EXPECT_EQ(store_->countRuns(HookRunState::kSucceeded).value(), 3u);
}

TEST_F(PostgresStoreTest, ClaimsAreOldestFirstWithinTheLimitAndRetriesWaitForTheirTime) {
  adopt(*store_, std::vector<std::string>{"job-1"});
  const std::vector<std::pair<std::string, std::chrono::milliseconds>> due = {
      {"a", 3s}, {"b", 1s}, {"c", 2s}, {"d", 1s}, {"e", 0s}, {"f", 60s}};
  WriteBatch batch;
  for (const auto& [hook, when] : due) {
    HookRun run = sampleRun("job-1", "completed", hook);
    run.not_before = at(when);
    batch.new_runs.push_back(run);
  }
  ASSERT_TRUE(applyOne(*store_, batch).ok());
  const auto hooks = [](const Result<std::vector<HookRun>>& runs) {
    std::vector<std::string> out;
    for (const auto& run : runs.value()) out.push_back(run.hook);
    return out;
  };
  EXPECT_TRUE(store_->claimDueRuns(at(10s), 0)->empty());
  EXPECT_EQ(hooks(store_->claimDueRuns(at(10s), 2)), (std::vector<std::string>{"e", "b"}));
  EXPECT_EQ(hooks(store_->claimDueRuns(at(10s), 2)), (std::vector<std::string>{"d", "c"}));
  auto last = store_->claimDueRuns(at(10s), 5);
  ASSERT_EQ(hooks(last), (std::vector<std::string>{"a"}));
  EXPECT_EQ(last->front().state, HookRunState::kRunning);
  EXPECT_EQ(last->front().attempts, 1);
  EXPECT_EQ(store_->nextPendingAt().value(), at(60s));
  EXPECT_EQ(store_->countRuns(HookRunState::kRunning).value(), 5u);

  const std::int64_t id = last->front().run_id;
  ASSERT_TRUE(store_->finishRun(id, RunOutcome::kRetry, at(20s) + 300us, "exit status 3").ok());
  EXPECT_EQ(store_->nextPendingAt().value(), at(20001ms));  // rounded up, never down
  EXPECT_TRUE(store_->claimDueRuns(at(20s), 10)->empty());
  auto retried = store_->claimDueRuns(at(20001ms), 10);
  ASSERT_EQ(retried->size(), 1u);
  EXPECT_EQ(retried->front().attempts, 2);
  EXPECT_EQ(retried->front().last_error, "exit status 3");
}

TEST_F(PostgresStoreTest, FinishReleaseAndOperatorRetryRecordOutcomes) {
  adopt(*store_, std::vector<std::string>{"job-1"});
  ASSERT_TRUE(applyOne(*store_, WriteBatch{{},
                                           {sampleRun("job-1", "completed", "ok"),
                                            sampleRun("job-1", "completed", "bad"),
                                            sampleRun("job-1", "completed", "interrupted")},
                                           {},
                                           {}})
                  .ok());
  auto claimed = store_->claimDueRuns(at(0s), 10);
  ASSERT_EQ(claimed->size(), 3u);
  ASSERT_TRUE(store_->finishRun((*claimed)[0].run_id, RunOutcome::kSucceeded, {}, "").ok());
  ASSERT_TRUE(
      store_->finishRun((*claimed)[1].run_id, RunOutcome::kFailed, {}, "exit status 1").ok());
  ASSERT_TRUE(store_->releaseRun((*claimed)[2].run_id).ok());
  EXPECT_EQ(store_->countRuns(HookRunState::kFailed).value(), 1u);
  EXPECT_EQ(store_->countRuns(HookRunState::kPending).value(), 1u);
  auto again = store_->claimDueRuns(at(0s), 10);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().hook, "interrupted");
  EXPECT_EQ(again->front().attempts, 2);

  // A run no longer this process's is left as it is (not an error the hook
  // side would retry for good).
  const size_t succeeded = store_->countRuns(HookRunState::kSucceeded).value();
  ASSERT_TRUE(store_->finishRun((*claimed)[0].run_id, RunOutcome::kFailed, {}, "").ok());
  EXPECT_EQ(store_->countRuns(HookRunState::kSucceeded).value(), succeeded);
  ASSERT_TRUE(store_->releaseRun(999).ok());

  auto bad = store_->retryFailedRuns({"no-colon"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kBadInput);
  auto requeued = store_->retryFailedRuns({"job-1:completed"});
  ASSERT_TRUE(requeued.ok()) << requeued.error().message;
  ASSERT_EQ(requeued->size(), 1u);
  EXPECT_EQ(requeued->front().hook, "bad");
  EXPECT_EQ(store_->countRuns(HookRunState::kFailed).value(), 0u);
  EXPECT_TRUE(store_->retryFailedRuns({})->empty());
  auto recent = store_->recentRuns(HookRunState::kSucceeded, 5);
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ(recent->front().hook, "ok");
}

TEST_F(PostgresStoreTest, AWithResultRunWaitsForItsResultAndAFinalResultIsKept) {
  adopt(*store_, std::vector<std::string>{"job-1"});
  HookRun fetch = sampleRun("job-1", "completed", "fetch");
  fetch.with_result = true;
  WriteBatch batch;
  batch.new_runs = {fetch, sampleRun("job-1", "completed", "plain")};
  batch.results = {result("job-1", ResultState::kPending)};
  ASSERT_TRUE(applyOne(*store_, batch).ok());
  auto first = store_->claimDueRuns(at(1s), 10);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ(first->front().hook, "plain");
  EXPECT_FALSE(store_->nextPendingAt().value().has_value());
  EXPECT_EQ(store_->loadPendingResults()->size(), 1u);

  WriteBatch done;
  done.results = {result("job-1", ResultState::kDone, "/results/job-1.json")};
  ASSERT_TRUE(applyOne(*store_, done).ok());
  WriteBatch late;  // a final state is never changed back
  late.results = {result("job-1", ResultState::kGaveUp, "too late")};
  ASSERT_TRUE(applyOne(*store_, late).ok());
  auto second = store_->claimDueRuns(at(1s), 10);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front().result_file, "/results/job-1.json");
  auto stored = store_->resultFor("job-1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->state, ResultState::kDone);
  EXPECT_EQ((*stored)->account, "default");
  EXPECT_TRUE(store_->loadPendingResults()->empty());
}

TEST_F(PostgresStoreTest, HistoryIsBoundedPerJobReadableAndForgottenWithTheJob) {
  StoredJob job = sampleJob("job-1");
  job.terminal = true;
  adopt(*store_, std::vector<StoredJob>{job});
  WriteBatch batch;
  for (size_t i = 0; i < kHistoryPerJob + 10; ++i) {
    batch.transitions.push_back({"job-1", "s" + std::to_string(i), "s" + std::to_string(i + 1),
                                 at(std::chrono::milliseconds(i)), "u"});
  }
  batch.new_runs = {sampleRun("job-1", "completed", "notify")};
  ASSERT_TRUE(applyOne(*store_, batch).ok());
  for (int i = 0; i < static_cast<int>(kHistoryPerJob) + 3; ++i) {
    HookAttempt a;
    a.run_id = 1;
    a.job_id = "job-1";
    a.attempt = i + 1;
    a.exit_code = i % 2 == 0 ? std::optional<int>(1) : std::nullopt;
    a.signal = i % 2 == 0 ? "" : "SIGTERM";
    a.result = "failure";
    ASSERT_TRUE(store_->recordAttempt(a).ok());
  }
  auto reader = openPostgresReader(uri_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  auto transitions = (*reader)->transitions("job-1");
  ASSERT_TRUE(transitions.ok()) << transitions.error().message;
  ASSERT_EQ(transitions->size(), kHistoryPerJob);
  EXPECT_EQ(transitions->front().from, "s10");
  EXPECT_EQ(transitions->back().at, at(std::chrono::milliseconds(kHistoryPerJob + 9)));
  EXPECT_EQ((*reader)->recentTransitions(2)->front().to, "s60");
  auto attempts = (*reader)->attempts("job-1");
  ASSERT_EQ(attempts->size(), kHistoryPerJob);
  EXPECT_EQ(attempts->front().attempt, 4);
  EXPECT_EQ(attempts->back().signal, "");
  EXPECT_EQ(attempts->back().exit_code, 1);
  EXPECT_EQ((*reader)->jobs()->size(), 1u);
  EXPECT_EQ((*reader)->countRuns(HookRunState::kPending).value(), 1u);
  EXPECT_EQ((*reader)->runsInState(HookRunState::kPending, 5)->size(), 1u);
  EXPECT_EQ((*reader)->runsForJob("job-1")->size(), 1u);
  auto fleet = (*reader)->fleet();
  ASSERT_TRUE(fleet.ok() && fleet->has_value());
  ASSERT_EQ((*fleet)->size(), 1u);
  EXPECT_EQ((*fleet)->front().jobs_held, 1u);
  EXPECT_FALSE((*fleet)->front().self);

  auto claimed = store_->claimDueRuns(at(0s), 1);
  ASSERT_TRUE(store_->finishRun(claimed->front().run_id, RunOutcome::kSucceeded, {}, "").ok());
  WriteBatch forget;
  forget.forgotten = {"job-1"};
  ASSERT_TRUE(applyOne(*store_, forget).ok());
  EXPECT_TRUE((*reader)->transitions("job-1")->empty());
  EXPECT_TRUE((*reader)->attempts("job-1")->empty());
  EXPECT_TRUE((*reader)->runsForJob("job-1")->empty());
  EXPECT_TRUE((*reader)->jobs()->empty());
  HookAttempt late;  // a run that ended after its job was forgotten
  late.run_id = 1;
  late.job_id = "job-1";
  late.attempt = 99;
  ASSERT_TRUE(store_->recordAttempt(late).ok());
  EXPECT_TRUE((*reader)->attempts("job-1")->empty());

  // A job no longer watched loses its history too.
  adopt(*store_, std::vector<StoredJob>{sampleJob("job-2")});
  WriteBatch more;
  more.transitions = {{"job-2", "unknown", "processing", at(1s), "u"}};
  ASSERT_TRUE(applyOne(*store_, more).ok());
  late.job_id = "job-2";
  ASSERT_TRUE(store_->recordAttempt(late).ok());
  EXPECT_EQ((*reader)->attempts("job-2")->size(), 1u);
  WriteBatch remove;
  remove.removed = {"job-2"};
  ASSERT_TRUE(applyOne(*store_, remove).ok());
  EXPECT_TRUE((*reader)->transitions("job-2")->empty());
  EXPECT_TRUE((*reader)->attempts("job-2")->empty());
}

TEST_F(PostgresStoreTest, ARestartedInstanceTakesOverItsJobsAndInterruptedRuns) {
  adopt(*store_, std::vector<std::string>{"job-1", "job-2"});
  ASSERT_TRUE(
      applyOne(*store_, WriteBatch{{}, {sampleRun("job-1", "completed", "notify")}, {}, {}}).ok());
  ASSERT_EQ(store_->claimDueRuns(at(1s), 10)->size(), 1u);
  store_.reset();  // dies with the run running: its session (and lock) ends

  auto store = open("a");
  ASSERT_TRUE(store);
  EXPECT_EQ(store->loadJobs()->size(), 2u);
  EXPECT_EQ(store->countRuns(HookRunState::kRunning).value(), 1u);
  EXPECT_EQ(store->recoverInterruptedRuns().value(), 1u);
  auto claimed = store->claimDueRuns(at(1s), 10);
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->front().attempts, 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM instances"), "1");
}

}  // namespace
}  // namespace jobwatch::state
