// SPDX-License-Identifier: Apache-2.0
// WriteBatch::registered on the single-machine store and through the
// StateWriter: inserted if absent (like a first sighting), an existing row
// left as it is, applied before the batch's job rows; the writer keeps
// every registered row (never merged, never dropped) and counts it.
#include <gtest/gtest.h>

#include "state/state_writer.h"
#include "state_test_support.h"
#include "support/captured_stream.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::sampleJob;

class RegisteredTest : public testing::StoreFixture {};

TEST_F(RegisteredTest, InsertedIfAbsentAndAnExistingRowIsKept) {
  auto store = open();
  ASSERT_TRUE(store);
  StoredJob first = sampleJob("job-1");
  first.status = "queued";
  first.account = "acme";
  WriteBatch batch;
  batch.registered = {first};
  apply(*store, batch);
  StoredJob again = sampleJob("job-1");
  again.status = "processing";
  again.labels = {{"other", "x"}};
  batch.registered = {again};
  apply(*store, batch);
  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().status, "queued");
  EXPECT_EQ(jobs->front().labels, first.labels);
  EXPECT_EQ(jobs->front().account, "acme");
}

TEST_F(RegisteredTest, AppliedBeforeTheBatchsJobRows) {
  auto store = open();
  ASSERT_TRUE(store);
  StoredJob registered = sampleJob("job-1");
  registered.status = "queued";
  StoredJob seen = sampleJob("job-1");
  seen.status = "completed";
  WriteBatch batch;
  batch.jobs = {seen};
  batch.registered = {registered};
  apply(*store, batch);
  EXPECT_EQ(store->loadJobs()->front().status, "completed");
}

TEST_F(RegisteredTest, TheWriterKeepsAndCountsEveryRegisteredRow) {
  auto store = open();
  ASSERT_TRUE(store);
  ManualClock clock;
  testing_support::CapturedStream text;
  Log log{LogFormat::kText, LogLevel::kDebug, text.stream()};
  StateWriter writer(*store, log, clock, nullptr);
  WriteBatch one;
  one.registered = {sampleJob("job-1"), sampleJob("job-2")};
  writer.enqueue(one);
  WriteBatch two;
  two.registered = {sampleJob("job-1")};  // the same ID again: kept, not merged
  writer.enqueue(two);
  EXPECT_EQ(writer.queuedRows(), 3u);
  EXPECT_EQ(writer.mergedRows(), 0u);
  EXPECT_TRUE(writer.stop(10s));
  EXPECT_EQ(writer.committedRows(), 3u);
  EXPECT_EQ(store->loadJobs()->size(), 2u);
}

}  // namespace
}  // namespace jobwatch::state
