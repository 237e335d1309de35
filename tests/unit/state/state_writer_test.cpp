// SPDX-License-Identifier: Apache-2.0
#include "state/state_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "state_test_support.h"
#include "support/captured_stream.h"
#include "support/fault_injecting_state_store.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using testing::eventually;
using ::testing::HasSubstr;
using testing::sampleJob;
using testing::sampleRun;
using testing::TempDir;

class StateWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::open(dir_ / "state.db");
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::make_unique<testing_support::FaultInjectingStateStore>(std::move(store).value());
  }

  std::vector<std::string> jobIds() {
    std::vector<std::string> ids;
    auto jobs = store_->loadJobs();
    for (const auto& job : jobs.value()) ids.push_back(job.id);
    return ids;
  }

  TempDir dir_;
  std::unique_ptr<testing_support::FaultInjectingStateStore> store_;
  ManualClock clock_;
  testing_support::CapturedStream log_text_;  // read while the writer logs
  Log log_{LogFormat::kText, LogLevel::kDebug, log_text_.stream()};
};

TEST_F(StateWriterTest, BatchesFromSeveralThreadsAllLand) {
  std::atomic<int> wakeups{0};
  StateWriter writer(*store_, log_, clock_, [&] { ++wakeups; });
  writer.start();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&writer, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::string id = "job-" + std::to_string(t) + "-" + std::to_string(i);
          WriteBatch batch;
          batch.jobs.push_back(sampleJob(id));
          if (i % 10 == 0) batch.new_runs.push_back(sampleRun(id, "completed", "notify"));
          writer.enqueue(std::move(batch));
        }
      });
    }
  }
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_EQ(store_->loadJobs()->size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(store_->countRuns(HookRunState::kPending).value(), size_t{kThreads * kPerThread / 10});
  EXPECT_GE(writer.commits(), 1u);
  EXPECT_LE(writer.commits(), size_t{kThreads * kPerThread});
  EXPECT_FALSE(writer.failing());
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_GE(wakeups.load(), 1);  // the callback follows the commit; joined by stop
}

TEST_F(StateWriterTest, RunsAreClaimableWhenTheRunnerIsWoken) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<size_t> claimed_per_wakeup;
  StateWriter writer(*store_, log_, clock_, [&] {
    // What the hook runner does when woken: the runs must be committed.
    auto claimed = store_->claimDueRuns(at(1h), 100);
    std::lock_guard lock(mu);
    claimed_per_wakeup.push_back(claimed ? claimed->size() : 0);
    cv.notify_all();
  });
  writer.start();
  WriteBatch batch;
  batch.jobs = {sampleJob("job-1")};
  batch.new_runs = {sampleRun("job-1", "completed", "a"), sampleRun("job-1", "completed", "b")};
  writer.enqueue(batch);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return !claimed_per_wakeup.empty(); }));
    EXPECT_EQ(claimed_per_wakeup, (std::vector<size_t>{2}));
  }
  // Writes without runs do not wake the runner.
  writer.enqueue(WriteBatch{{sampleJob("job-2")}, {}, {}, {}});
  ASSERT_TRUE(writer.flush(20s));
  EXPECT_TRUE(writer.stop(10s));
  std::lock_guard lock(mu);
  EXPECT_EQ(claimed_per_wakeup.size(), 1u);
}

TEST_F(StateWriterTest, FlushWaitsUntilCommitted) {
  StateWriter writer(*store_, log_, clock_, nullptr);
  writer.start();
  EXPECT_TRUE(writer.flush(1s));  // nothing queued
  store_->failNextCommits(2);     // the commit needs two retries
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}, {}});
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
  EXPECT_FALSE(writer.failing());
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, FlushTimesOutWhileCommitsFail) {
  StateWriter writer(*store_, log_, clock_, nullptr);
  writer.start();
  store_->failNextCommits(1'000'000);
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}, {}});
  EXPECT_FALSE(writer.flush(50ms));
  store_->failNextCommits(0);
  EXPECT_TRUE(writer.flush(30s));
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, StopCommitsTheTail) {
  {
    StateWriter writer(*store_, log_, clock_, nullptr);
    writer.start();
    for (int i = 0; i < 500; ++i)
      writer.enqueue(WriteBatch{{sampleJob("job-" + std::to_string(i))}, {}, {}, {}});
    EXPECT_TRUE(writer.stop(30s));
    EXPECT_EQ(store_->loadJobs()->size(), 500u);
    // Enqueued after stop: committed by the next stop (here: the destructor).
    writer.enqueue(WriteBatch{{sampleJob("late")}, {}, {}, {}});
  }
  EXPECT_EQ(store_->loadJobs()->size(), 501u);
}

TEST_F(StateWriterTest, StopWithoutStartCommitsOnTheCallersThread) {
  std::atomic<int> wakeups{0};
  StateWriter writer(*store_, log_, clock_, [&] { ++wakeups; });
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {sampleRun("job-1", "completed", "h")}, {}, {}});
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
  EXPECT_EQ(wakeups.load(), 1);
}

TEST_F(StateWriterTest, FailedCommitsAreRetriedInOrderAndNothingIsLost) {
  std::atomic<int> wakeups{0};
  StateWriter writer(*store_, log_, clock_, [&] { ++wakeups; });
  store_->failNextCommits(1'000'000);
  writer.start();

  StoredJob a1 = sampleJob("a");
  a1.status = "queued";
  StoredJob a2 = sampleJob("a");
  a2.status = "completed";
  a2.terminal = true;
  a2.terminal_at = at(5s);
  HookRun first = sampleRun("a", "completed", "notify");
  first.previous_status = "queued";
  HookRun duplicate = first;
  duplicate.previous_status = "processing";
  writer.enqueue(WriteBatch{{a1, sampleJob("b")}, {}, {}, {}});
  ASSERT_TRUE(eventually([&] { return writer.failing(); }));
  // More writes arrive while the disk is failing; their order must hold.
  writer.enqueue(WriteBatch{{a2}, {first}, {"b"}, {}});
  writer.enqueue(WriteBatch{{sampleJob("c")}, {duplicate}, {}, {}});
  writer.enqueue(WriteBatch{{sampleJob("b")}, {}, {"c"}, {}});
  EXPECT_TRUE(store_->loadJobs()->empty());
  EXPECT_EQ(wakeups.load(), 0);

  store_->failNextCommits(0);  // the disk recovers
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_FALSE(writer.failing());
  auto jobs = store_->loadJobs();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id, "a");
  EXPECT_EQ((*jobs)[0].status, "completed");
  EXPECT_EQ((*jobs)[1].id, "b");
  auto runs = store_->runsForJob("a");
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().previous_status, "queued");
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_EQ(wakeups.load(), 1);  // the callback follows the commit; joined by stop

  const std::string text = log_text_.text();
  EXPECT_THAT(text, HasSubstr("state write failed; keeping the writes and retrying"));
  EXPECT_THAT(text, HasSubstr(store_->path().string()));
  EXPECT_THAT(text, HasSubstr("state writes are committed again"));
  // Logged once per failure streak, not once per attempt.
  size_t first_reports = 0;
  for (size_t pos = 0; (pos = text.find("state write failed", pos)) != std::string::npos; ++pos)
    ++first_reports;
  EXPECT_EQ(first_reports, 1u);
}

TEST_F(StateWriterTest, StopGivesUpAtItsDeadlineWhileCommitsFail) {
  StateWriter writer(*store_, log_, clock_, nullptr);
  store_->failNextCommits(1'000'000);
  writer.start();
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}, {}});
  EXPECT_FALSE(writer.stop(300ms));
  EXPECT_TRUE(store_->loadJobs()->empty());
  EXPECT_THAT(log_text_.text(), HasSubstr("state writes could not be committed before stop"));
  // The writes are still held: a later stop with a working disk commits them.
  store_->failNextCommits(0);
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
}

// No backpressure: the writer's thread is held inside its post-commit
// callback (a gate), so nothing queued can be committed until the gate
// opens; enqueue() still returns at once, and the queue keeps one row per
// job (the newest) however often the job changes.
TEST_F(StateWriterTest, EnqueueNeverWaitsAndKeepsOneQueuedRowPerJob) {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = false;
  bool in_callback = false;
  StateWriter writer(*store_, log_, clock_, [&] {
    std::unique_lock lock(mu);
    in_callback = true;
    cv.notify_all();
    cv.wait(lock, [&] { return gate_open; });
  });
  writer.start();
  writer.enqueue(WriteBatch{{sampleJob("held")}, {sampleRun("held", "completed", "h")}, {}, {}});
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return in_callback; }));
  }
  std::atomic<bool> returned{false};
  std::jthread enqueuer([&] {
    for (int round = 0; round < 1000; ++round) {
      for (int j = 0; j < 10; ++j) {
        StoredJob job = sampleJob("job-" + std::to_string(j));
        job.consecutive_errors = round;
        // Every other row carries no body: the queued one's body stays.
        if (round % 2 == 1) job.last_body.clear();
        if (round == 0) job.last_body = "body-" + std::to_string(j);
        writer.enqueue(WriteBatch{{job}, {}, {}, {}});
      }
    }
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return returned.load(); }));  // the gate is still shut
  EXPECT_EQ(writer.queuedRows(), 10u);
  EXPECT_EQ(writer.mergedRows(), 9990u);
  {
    std::lock_guard lock(mu);
    gate_open = true;
  }
  cv.notify_all();
  ASSERT_TRUE(writer.flush(20s));
  auto jobs = store_->loadJobs();
  ASSERT_EQ(jobs->size(), 11u);
  for (const auto& job : *jobs) {
    if (job.id == "held") continue;
    EXPECT_EQ(job.consecutive_errors, 999) << job.id;
    // Rounds 2, 4, ... carried sampleJob's body; the last one (998) wins.
    EXPECT_EQ(job.last_body, sampleJob(job.id).last_body) << job.id;
  }
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, HasRoomUntilKRoomRowsWait) {
  StateWriter writer(*store_, log_, clock_, nullptr);  // not started: rows stay queued
  for (size_t i = 0; i + 1 < StateWriter::kRoomRows; ++i) {
    writer.enqueue(WriteBatch{{sampleJob("job-" + std::to_string(i))}, {}, {}, {}});
  }
  EXPECT_TRUE(writer.hasRoom());
  writer.enqueue(WriteBatch{{sampleJob("one-more")}, {}, {}, {}});
  EXPECT_FALSE(writer.hasRoom());  // the scheduler now starts no polls
  writer.enqueue(WriteBatch{{sampleJob("one-more")}, {}, {}, {}});  // still never waits
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_TRUE(writer.hasRoom());
  EXPECT_EQ(store_->loadJobs()->size(), StateWriter::kRoomRows);
}

TEST_F(StateWriterTest, AnEmptyBodyMergedIntoAQueuedRowKeepsItsBody) {
  StateWriter writer(*store_, log_, clock_, nullptr);  // not started: rows stay queued
  StoredJob first = sampleJob("a");
  first.last_body = R"({"id":"a","status":"PROCESSING"})";
  StoredJob second = sampleJob("a");
  second.status = "timed_out";
  second.last_body.clear();
  writer.enqueue(WriteBatch{{first}, {}, {}, {}});
  writer.enqueue(WriteBatch{{second}, {}, {}, {}});
  EXPECT_EQ(writer.queuedRows(), 1u);
  EXPECT_TRUE(writer.stop(10s));
  auto jobs = store_->loadJobs();
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().status, "timed_out");
  EXPECT_EQ(jobs->front().last_body, first.last_body);
}

// Ledger rows are barriers: what follows a job's removal, forget or run is
// not merged into a row before it.
TEST_F(StateWriterTest, LedgerRowsKeepTheirOrderRelativeToTheJobsRows) {
  StateWriter writer(*store_, log_, clock_, nullptr);  // not started: rows stay queued
  StoredJob gone = sampleJob("gone");
  gone.status = "queued";
  StoredJob back = sampleJob("gone");
  back.status = "completed";
  back.source = JobSource::kDropDir;
  // removed, then added again: the job exists at the end.
  writer.enqueue(WriteBatch{{gone}, {}, {}, {}});
  writer.enqueue(WriteBatch{{}, {}, {"gone"}, {}});
  writer.enqueue(WriteBatch{{back}, {}, {}, {}});
  // A run with no body takes the body of the job row before it.
  StoredJob body1 = sampleJob("r");
  body1.last_body = "first body";
  StoredJob body2 = sampleJob("r");
  body2.last_body = "second body";
  HookRun run = sampleRun("r", "completed", "h");
  run.body.clear();
  writer.enqueue(WriteBatch{{body1}, {run}, {}, {}});
  writer.enqueue(WriteBatch{{body2}, {}, {}, {}});
  // Forgotten, then watched again from the watch file: no tombstone left
  // behind by the older row, the newer row is kept.
  StoredJob old = sampleJob("f");
  old.terminal = true;
  old.terminal_at = at(1s);
  writer.enqueue(WriteBatch{{old}, {}, {}, {}});
  WriteBatch forget;
  forget.forgotten = {"f"};
  writer.enqueue(forget);
  writer.enqueue(WriteBatch{{}, {}, {"f"}, {}});  // left the watch file: tombstone goes
  EXPECT_EQ(writer.queuedRows(), 9u);
  EXPECT_EQ(writer.mergedRows(), 0u);
  EXPECT_TRUE(writer.stop(10s));

  auto jobs = store_->loadJobs();
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id, "gone");
  EXPECT_EQ((*jobs)[0].status, "completed");
  EXPECT_EQ((*jobs)[0].source, JobSource::kDropDir);
  EXPECT_EQ((*jobs)[1].id, "r");
  EXPECT_EQ((*jobs)[1].last_body, "second body");
  auto runs = store_->runsForJob("r");
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().body, "first body");
  EXPECT_TRUE(store_->loadForgotten()->empty());
}

TEST_F(StateWriterTest, ForgottenJobsSurviveAFailureStreak) {
  StateWriter writer(*store_, log_, clock_, nullptr);
  StoredJob done = sampleJob("done");
  done.terminal = true;
  done.terminal_at = at(1s);
  ASSERT_TRUE(store_->apply({WriteBatch{{done}, {}, {}, {}}}).ok());
  store_->failNextCommits(1'000'000);
  writer.start();
  WriteBatch forget;
  forget.forgotten = {"done"};
  writer.enqueue(forget);
  ASSERT_TRUE(eventually([&] { return writer.failing(); }));
  writer.enqueue(WriteBatch{{sampleJob("other")}, {}, {}, {}});
  ASSERT_TRUE(eventually([&] { return writer.writeFailures() >= 2; }));
  store_->failNextCommits(0);
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"other"}));
  EXPECT_EQ(store_->loadForgotten().value(), (std::vector<std::string>{"done"}));
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, FailedCommitsAreCountedAndTheFailureLogIsThrottledByTheClock) {
  StateWriter writer(*store_, log_, clock_, nullptr);
  store_->failNextCommits(1'000'000);
  writer.start();
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}, {}});
  ASSERT_TRUE(eventually([&] { return writer.writeFailures() >= 3; }));
  const auto count = [&](const std::string& what) {
    const std::string text = log_text_.text();
    size_t n = 0;
    for (size_t pos = 0; (pos = text.find(what, pos)) != std::string::npos; ++pos) ++n;
    return n;
  };
  EXPECT_EQ(count("state writes still failing"), 0u);  // the clock has not moved
  clock_.advance(StateWriter::kFailureLogInterval);
  ASSERT_TRUE(eventually([&] { return count("state writes still failing") == 1; }));
  store_->failNextCommits(0);
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_FALSE(writer.failed());
  EXPECT_TRUE(writer.stop(10s));
}

// A store that throws is a bug, not a disk error: the thread ends and says
// so; nothing queued is lost.
TEST_F(StateWriterTest, AnUnexpectedErrorEndsTheThreadAndSaysSo) {
  std::atomic<bool> throwing{true};
  testing_support::FaultInjectingStateStore& store = *store_;
  store.throwOnApply([&] { return throwing.load(); });
  StateWriter writer(store, log_, clock_, nullptr);
  writer.start();
  EXPECT_FALSE(writer.failed());
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}, {}});
  ASSERT_TRUE(eventually([&] { return writer.failed(); }));
  EXPECT_THAT(log_text_.text(), HasSubstr("state writer stopped by an unexpected error"));
  EXPECT_THAT(log_text_.text(), HasSubstr("injected exception"));
  throwing = false;
  EXPECT_TRUE(writer.stop(10s));  // committed on the caller's thread
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
}

TEST_F(StateWriterTest, CompactionDuringAFailureStreakKeepsEveryJobBeforeStart) {
  StateWriter writer(*store_, log_, clock_, nullptr);
  for (int i = 0; i < 3; ++i)  // not started: they wait
    writer.enqueue(WriteBatch{{sampleJob("early-" + std::to_string(i))}, {}, {}, {}});
  store_->failNextCommits(1'000'000);
  writer.start();
  ASSERT_TRUE(eventually([&] { return writer.failing(); }));
  for (int i = 0; i < 3; ++i)  // the failure streak is compacted, not waited out
    writer.enqueue(WriteBatch{{sampleJob("late-" + std::to_string(i))}, {}, {}, {}});
  for (int i = 0; i < 3; ++i)  // the same jobs again: merged
    writer.enqueue(WriteBatch{{sampleJob("late-" + std::to_string(i))}, {}, {}, {}});
  EXPECT_LE(writer.queuedRows(), 6u);
  store_->failNextCommits(0);
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_EQ(jobIds().size(), 6u);
  EXPECT_TRUE(writer.stop(10s));
}

}  // namespace
}  // namespace jobwatch::state
