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
  std::ostringstream log_text_;
  Log log_{LogFormat::kText, LogLevel::kDebug, log_text_};
};

TEST_F(StateWriterTest, BatchesFromSeveralThreadsAllLand) {
  std::atomic<int> wakeups{0};
  StateWriter writer(*store_, log_, [&] { ++wakeups; });
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
  StateWriter writer(*store_, log_, [&] {
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
  writer.enqueue(WriteBatch{{sampleJob("job-2")}, {}, {}});
  ASSERT_TRUE(writer.flush(20s));
  EXPECT_TRUE(writer.stop(10s));
  std::lock_guard lock(mu);
  EXPECT_EQ(claimed_per_wakeup.size(), 1u);
}

TEST_F(StateWriterTest, FlushWaitsUntilCommitted) {
  StateWriter writer(*store_, log_, nullptr);
  writer.start();
  EXPECT_TRUE(writer.flush(1s));      // nothing queued
  store_->failNextCommits(2);  // the commit needs two retries
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}});
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
  EXPECT_FALSE(writer.failing());
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, FlushTimesOutWhileCommitsFail) {
  StateWriter writer(*store_, log_, nullptr);
  writer.start();
  store_->failNextCommits(1'000'000);
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}});
  EXPECT_FALSE(writer.flush(50ms));
  store_->failNextCommits(0);
  EXPECT_TRUE(writer.flush(30s));
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, StopCommitsTheTail) {
  {
    StateWriter writer(*store_, log_, nullptr);
    writer.start();
    for (int i = 0; i < 500; ++i)
      writer.enqueue(WriteBatch{{sampleJob("job-" + std::to_string(i))}, {}, {}});
    EXPECT_TRUE(writer.stop(30s));
    EXPECT_EQ(store_->loadJobs()->size(), 500u);
    // Enqueued after stop: committed by the next stop (here: the destructor).
    writer.enqueue(WriteBatch{{sampleJob("late")}, {}, {}});
  }
  EXPECT_EQ(store_->loadJobs()->size(), 501u);
}

TEST_F(StateWriterTest, StopWithoutStartCommitsOnTheCallersThread) {
  std::atomic<int> wakeups{0};
  StateWriter writer(*store_, log_, [&] { ++wakeups; });
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {sampleRun("job-1", "completed", "h")}, {}});
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
  EXPECT_EQ(wakeups.load(), 1);
}

TEST_F(StateWriterTest, FailedCommitsAreRetriedInOrderAndNothingIsLost) {
  std::atomic<int> wakeups{0};
  StateWriter writer(*store_, log_, [&] { ++wakeups; });
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
  writer.enqueue(WriteBatch{{a1, sampleJob("b")}, {}, {}});
  ASSERT_TRUE(eventually([&] { return writer.failing(); }));
  // More writes arrive while the disk is failing; their order must hold.
  writer.enqueue(WriteBatch{{a2}, {first}, {"b"}});
  writer.enqueue(WriteBatch{{sampleJob("c")}, {duplicate}, {}});
  writer.enqueue(WriteBatch{{sampleJob("b")}, {}, {"c"}});
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

  const std::string text = log_text_.str();
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
  StateWriter writer(*store_, log_, nullptr);
  store_->failNextCommits(1'000'000);
  writer.start();
  writer.enqueue(WriteBatch{{sampleJob("job-1")}, {}, {}});
  EXPECT_FALSE(writer.stop(300ms));
  EXPECT_TRUE(store_->loadJobs()->empty());
  EXPECT_THAT(log_text_.str(), HasSubstr("state writes could not be committed before stop"));
  // The writes are still held: a later stop with a working disk commits them.
  store_->failNextCommits(0);
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_EQ(jobIds(), (std::vector<std::string>{"job-1"}));
}


// Backpressure: the writer's thread is held inside its post-commit callback
// (a gate), so nothing queued can be committed until the gate opens.
TEST_F(StateWriterTest, AFullQueueHoldsTheEnqueuerUntilTheWriterCatchesUp) {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = false;
  bool in_callback = false;
  StateWriter writer(
      *store_, log_,
      [&] {
        std::unique_lock lock(mu);
        in_callback = true;
        cv.notify_all();
        cv.wait(lock, [&] { return gate_open; });
      },
      /*max_queued_rows=*/2);
  writer.start();
  writer.enqueue(WriteBatch{{sampleJob("held")}, {sampleRun("held", "completed", "h")}, {}});
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return in_callback; }));
  }
  writer.enqueue(WriteBatch{{sampleJob("q1"), sampleJob("q2")}, {}, {}});  // fills the queue
  EXPECT_EQ(writer.enqueueWaits(), 0u);

  std::atomic<bool> returned{false};
  std::jthread enqueuer([&] {
    writer.enqueue(WriteBatch{{sampleJob("q3")}, {}, {}});
    returned = true;
  });
  ASSERT_TRUE(eventually([&] { return writer.enqueueWaits() == 1; }));
  EXPECT_FALSE(returned.load());  // waiting for room, gate still shut
  {
    std::lock_guard lock(mu);
    gate_open = true;
  }
  cv.notify_all();
  enqueuer.join();
  EXPECT_TRUE(returned.load());
  ASSERT_TRUE(writer.flush(20s));
  std::vector<std::string> ids = jobIds();
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"held", "q1", "q2", "q3"}));
  EXPECT_TRUE(writer.stop(10s));
}

TEST_F(StateWriterTest, AFullQueueNeverHoldsTheEnqueuerWhileCommitsFailOrBeforeStart) {
  StateWriter writer(*store_, log_, nullptr, /*max_queued_rows=*/1);
  for (int i = 0; i < 3; ++i)  // not started: nobody would ever make room
    writer.enqueue(WriteBatch{{sampleJob("early-" + std::to_string(i))}, {}, {}});
  EXPECT_EQ(writer.enqueueWaits(), 0u);

  store_->failNextCommits(1'000'000);
  writer.start();
  ASSERT_TRUE(eventually([&] { return writer.failing(); }));
  for (int i = 0; i < 3; ++i)  // the failure streak is compacted, not waited out
    writer.enqueue(WriteBatch{{sampleJob("late-" + std::to_string(i))}, {}, {}});
  EXPECT_EQ(writer.enqueueWaits(), 0u);

  store_->failNextCommits(0);
  ASSERT_TRUE(writer.flush(30s));
  EXPECT_EQ(jobIds().size(), 6u);
  EXPECT_TRUE(writer.stop(10s));
}

}  // namespace
}  // namespace jobwatch::state
