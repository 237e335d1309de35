// SPDX-License-Identifier: Apache-2.0
// The ledger's result rules (SPEC "Results"): a with_result run is claimed
// only once its job's result is done or given up, and comes back with the
// file or the reason; other runs never wait; a final result is never
// overwritten; pending results survive a reopen; forgetting a job drops
// its result row.
#include <gtest/gtest.h>

#include "state/state_store.h"
#include "state_test_support.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::sampleJob;
using testing::sampleRun;

class ResultLedgerTest : public testing::StoreFixture {
 protected:
  static ResultRecord result(const std::string& job_id, ResultState state, std::string text = {},
                             int attempts = 0) {
    ResultRecord r;
    r.job_id = job_id;
    r.state = state;
    (state == ResultState::kDone ? r.file : r.error) = std::move(text);
    r.attempts = attempts;
    r.since = at(0ms);
    r.next_try = at(5ms);
    return r;
  }

  // A completed job with a with_result run "fetch" and a plain run "plain",
  // and its result pending: as the transition recorder writes them.
  void writeCompletedJob(StateStore& store, const std::string& id) {
    WriteBatch batch;
    StoredJob job = sampleJob(id);
    job.status = "completed";
    job.terminal = true;
    job.terminal_at = at(1ms);
    batch.jobs.push_back(job);
    HookRun fetch = sampleRun(id, "completed", "fetch");
    fetch.with_result = true;
    fetch.not_before = at(1ms);
    HookRun plain = sampleRun(id, "completed", "plain");
    plain.not_before = at(1ms);
    batch.new_runs = {fetch, plain};
    batch.results.push_back(result(id, ResultState::kPending));
    apply(store, std::move(batch));
  }

  static WriteBatch resultBatch(ResultRecord record) {
    WriteBatch batch;
    batch.results.push_back(std::move(record));
    return batch;
  }
  static WriteBatch forgetBatch(const std::string& id) {
    WriteBatch batch;
    batch.forgotten.push_back(id);
    return batch;
  }
  static WriteBatch runBatch(HookRun run) {
    WriteBatch batch;
    batch.new_runs.push_back(std::move(run));
    return batch;
  }

  static std::vector<std::string> hooksOf(const std::vector<HookRun>& runs) {
    std::vector<std::string> out;
    for (const auto& run : runs) out.push_back(run.job_id + "/" + run.hook);
    return out;
  }
};

TEST_F(ResultLedgerTest, AWithResultRunWaitsForItsResultAndPlainRunsDoNot) {
  auto store = open();
  ASSERT_TRUE(store);
  writeCompletedJob(*store, "job-1");
  auto claimed = store->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(hooksOf(*claimed), std::vector<std::string>{"job-1/plain"});
  EXPECT_FALSE(claimed->front().with_result);
  // Nothing due while the result is pending: the runner sleeps, not spins.
  auto next = store->nextPendingAt();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());

  apply(*store, resultBatch(result("job-1", ResultState::kDone, "/r/job-1.json", 1)));
  EXPECT_EQ(store->nextPendingAt().value(), std::optional<WallTime>(at(1ms)));
  claimed = store->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(hooksOf(*claimed), std::vector<std::string>{"job-1/fetch"});
  EXPECT_TRUE(claimed->front().with_result);
  EXPECT_EQ(claimed->front().result_file, "/r/job-1.json");
  EXPECT_EQ(claimed->front().result_error, "");
  EXPECT_TRUE(store->claimDueRuns(at(1h), 10)->empty()) << "claimed once";
}

TEST_F(ResultLedgerTest, AGivenUpResultReleasesTheRunWithTheReason) {
  auto store = open();
  ASSERT_TRUE(store);
  writeCompletedJob(*store, "job-2");
  ASSERT_EQ(store->claimDueRuns(at(1h), 10)->size(), 1u);  // the plain one
  apply(*store, resultBatch(result("job-2", ResultState::kGaveUp, "HTTP 500 for an hour", 9)));
  auto claimed = store->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->front().result_file, "");
  EXPECT_EQ(claimed->front().result_error, "HTTP 500 for an hour");
}

TEST_F(ResultLedgerTest, AFinalResultIsNeverOverwrittenAndPendingOnesAreUpdated) {
  auto store = open();
  ASSERT_TRUE(store);
  apply(*store, resultBatch(result("job-3", ResultState::kPending)));
  apply(*store, resultBatch(result("job-3", ResultState::kPending, "HTTP 409 (not ready)", 2)));
  auto row = store->resultFor("job-3");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->attempts, 2);
  EXPECT_EQ((*row)->error, "HTTP 409 (not ready)");
  EXPECT_EQ((*row)->next_try, at(5ms));
  apply(*store, resultBatch(result("job-3", ResultState::kDone, "/r/job-3.json", 3)));
  apply(*store, resultBatch(result("job-3", ResultState::kPending)));
  apply(*store, resultBatch(result("job-3", ResultState::kGaveUp, "late")));
  row = store->resultFor("job-3");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->state, ResultState::kDone);
  EXPECT_EQ((*row)->file, "/r/job-3.json");
  EXPECT_EQ((*row)->attempts, 3);
}

TEST_F(ResultLedgerTest, PendingResultsSurviveAReopenAndForgettingDropsTheRow) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    writeCompletedJob(*store, "job-4");
    writeCompletedJob(*store, "job-5");
    apply(*store, resultBatch(result("job-5", ResultState::kDone, "/r/job-5.json")));
  }
  auto store = open();
  ASSERT_TRUE(store);
  auto pending = store->loadPendingResults();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().job_id, "job-4");
  EXPECT_EQ(pending->front().since, at(0ms));
  EXPECT_EQ(pending->front().next_try, at(5ms));

  apply(*store, forgetBatch("job-4"));
  EXPECT_FALSE(store->resultFor("job-4")->has_value());
  EXPECT_TRUE(store->loadPendingResults()->empty());
}

TEST_F(ResultLedgerTest, AWithResultRunWithoutAResultRowRunsAndIsToldWhy) {
  // A with_result hook on `failed`: no result is ever fetched for it.
  auto store = open();
  ASSERT_TRUE(store);
  HookRun run = sampleRun("job-6", "failed", "fetch");
  run.with_result = true;
  run.not_before = at(0ms);
  apply(*store, runBatch(run));
  auto claimed = store->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ(claimed->front().result_file, "");
  EXPECT_NE(claimed->front().result_error.find("did not complete"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::state
