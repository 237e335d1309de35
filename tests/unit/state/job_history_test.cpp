// SPDX-License-Identifier: Apache-2.0
// Per-job history (transitions, hook attempts): bounded per job, forgotten
// with the job, read back read-only beside the writer; the operator's retry.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "state/state_reader.h"
#include "state/state_store.h"
#include "state_test_support.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::sampleJob;
using testing::sampleRun;

class JobHistoryTest : public testing::StoreFixture {
 protected:
  std::unique_ptr<StateReader> reader() {
    auto r = StateReader::open(dbPath());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : nullptr;
  }
  static WriteBatch transitions(const std::string& job, int from, int to) {
    WriteBatch batch;
    for (int i = from; i < to; ++i) {
      batch.transitions.push_back({job, "s" + std::to_string(i), "s" + std::to_string(i + 1),
                                   at(std::chrono::milliseconds(i)), "u" + std::to_string(i)});
    }
    return batch;
  }
  static HookAttempt attempt(const std::string& job, int n) {
    HookAttempt a;
    a.run_id = 7;
    a.job_id = job;
    a.status = "completed";
    a.hook = "notify";
    a.attempt = n;
    a.started = at(std::chrono::milliseconds(n));
    a.duration = 25ms;
    if (n % 2 == 0) {
      a.exit_code = 3;
    } else {
      a.signal = "SIGKILL";
    }
    a.result = "failure";
    a.output = "line one\nline " + std::to_string(n);
    return a;
  }
};

TEST_F(JobHistoryTest, TransitionsAreKeptInOrderAndBoundedPerJob) {
  auto store = open();
  ASSERT_TRUE(store->apply({transitions("a", 0, 30), transitions("b", 0, 3)}).ok());
  ASSERT_TRUE(store->apply({transitions("a", 30, 70)}).ok());
  auto r = reader();
  auto a = r->transitions("a");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), kHistoryPerJob);
  EXPECT_EQ(a->front().from, "s20");  // the 50 newest of 70
  EXPECT_EQ(a->back().to, "s70");
  EXPECT_EQ(a->back().updated_at, "u69");
  EXPECT_EQ(a->back().at, at(69ms));
  auto b = r->transitions("b");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size(), 3u) << "another job's bound is its own";
  auto recent = r->recentTransitions(2);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);
  EXPECT_EQ(recent->front().to, "s70");  // newest first
}

TEST_F(JobHistoryTest, AttemptsAreBoundedAndKeepExitCodeOrSignal) {
  auto store = open();
  WriteBatch known;
  known.jobs.push_back(sampleJob("a"));
  ASSERT_TRUE(store->apply({known}).ok());
  for (int n = 1; n <= 60; ++n) ASSERT_TRUE(store->recordAttempt(attempt("a", n)).ok());
  auto attempts = reader()->attempts("a");
  ASSERT_TRUE(attempts.ok());
  ASSERT_EQ(attempts->size(), kHistoryPerJob);
  EXPECT_EQ(attempts->front().attempt, 11);
  const HookAttempt& last = attempts->back();
  EXPECT_EQ(last.attempt, 60);
  EXPECT_EQ(last.exit_code, 3);
  EXPECT_EQ(last.signal, "");
  EXPECT_EQ(last.duration, 25ms);
  EXPECT_EQ(last.output, "line one\nline 60");
  EXPECT_EQ((*attempts)[attempts->size() - 2].exit_code, std::nullopt);
  EXPECT_EQ((*attempts)[attempts->size() - 2].signal, "SIGKILL");
}

TEST_F(JobHistoryTest, ForgettingAJobForgetsItsHistory) {
  auto store = open();
  WriteBatch first = transitions("a", 0, 5);
  first.jobs.push_back(sampleJob("a"));
  ASSERT_TRUE(store->apply({first, transitions("b", 0, 2)}).ok());
  ASSERT_TRUE(store->recordAttempt(attempt("a", 1)).ok());
  WriteBatch forget;
  forget.forgotten.push_back("a");
  ASSERT_TRUE(store->apply({forget}).ok());
  auto r = reader();
  EXPECT_TRUE(r->transitions("a")->empty());
  EXPECT_TRUE(r->attempts("a")->empty());
  EXPECT_EQ(r->transitions("b")->size(), 2u);
}

// A job no longer watched (gone from the watch file) or forgotten leaves no
// history behind, also from a run that ends after it went.
TEST_F(JobHistoryTest, ARemovedJobsHistoryGoesAndLateAttemptsAreNotKept) {
  auto store = open();
  WriteBatch first = transitions("a", 0, 3);
  first.jobs.push_back(sampleJob("a"));
  WriteBatch other = transitions("b", 0, 2);
  other.jobs.push_back(sampleJob("b"));
  ASSERT_TRUE(store->apply({first, other}).ok());
  ASSERT_TRUE(store->recordAttempt(attempt("a", 1)).ok());
  ASSERT_EQ(reader()->attempts("a")->size(), 1u);
  WriteBatch remove;
  remove.removed.push_back("a");
  ASSERT_TRUE(store->apply({remove}).ok());
  ASSERT_TRUE(store->recordAttempt(attempt("a", 2)).ok());  // a run that ended later
  auto r = reader();
  EXPECT_TRUE(r->transitions("a")->empty());
  EXPECT_TRUE(r->attempts("a")->empty());
  EXPECT_EQ(r->transitions("b")->size(), 2u);
  EXPECT_FALSE(r->fleet().value().has_value()) << "SQLite is no fleet";
}

TEST_F(JobHistoryTest, RetryRequeuesFailedRunsOnceAndCommitsFirst) {
  auto store = open();
  WriteBatch batch;
  batch.jobs.push_back(sampleJob("a"));
  batch.new_runs = {sampleRun("a", "completed", "one"), sampleRun("a", "completed", "two"),
                    sampleRun("a", "failed", "one")};
  ASSERT_TRUE(store->apply({batch}).ok());
  auto claimed = store->claimDueRuns(at(1h), 10);
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 3u);
  for (const auto& run : *claimed) {
    const bool fail = run.hook == "one";
    ASSERT_TRUE(store
                    ->finishRun(run.run_id, fail ? RunOutcome::kFailed : RunOutcome::kSucceeded,
                                WallTime{}, fail ? "exit code 1" : "")
                    .ok());
  }
  auto retried = store->retryFailedRuns({"a:completed"});
  ASSERT_TRUE(retried.ok());
  ASSERT_EQ(retried->size(), 1u);
  EXPECT_EQ(retried->front().hook, "one");
  EXPECT_EQ(retried->front().state, HookRunState::kPending);
  // Committed: another connection sees it, and a second retry finds nothing.
  EXPECT_EQ(reader()->countRuns(HookRunState::kPending).value(), 1u);
  EXPECT_TRUE(store->retryFailedRuns({"a:completed"})->empty());
  auto again = store->claimDueRuns(WallTime::max() - 24h, 10);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().attempts, 2) << "a new attempt, not a reset";
  auto all = store->retryFailedRuns({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().status, "failed");
}

TEST_F(JobHistoryTest, ReaderRefusesMissingAndForeignFilesAndNeverWrites) {
  EXPECT_FALSE(StateReader::open(dbPath()).ok()) << "no file: nothing created";
  EXPECT_FALSE(std::filesystem::exists(dbPath()));
  testing::writeBytes(dbPath(), "not a database at all, not even close to one........");
  auto foreign = StateReader::open(dbPath());
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find(dbPath().string()), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::state
