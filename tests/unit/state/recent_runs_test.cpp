// SPDX-License-Identifier: Apache-2.0
// StateStore::recentRuns: the ledger rows in one state, most recently
// changed first, bounded, with their labels (the status page's failed
// hooks).
#include <gtest/gtest.h>

#include <chrono>

#include "state/state_store.h"
#include "state_test_support.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::sampleRun;
using testing::TempDir;

TEST(RecentRunsTest, NewestChangeFirstBoundedAndOnlyThatState) {
  TempDir dir;
  ManualClock clock;
  auto opened = StateStore::open(dir.path() / "state.db", clock);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& store = *opened.value();
  WriteBatch batch;
  for (const char* hook : {"a", "b", "c", "d"})
    batch.new_runs.push_back(sampleRun("job-1", "failed", hook));
  ASSERT_TRUE(store.apply({batch}).ok());
  auto claimed = store.claimDueRuns(clock.wallNow(), 10);
  ASSERT_EQ(claimed->size(), 4u);
  // Fail c, then a, then b (each a second later); d succeeds.
  for (const size_t i : {2u, 0u, 1u}) {
    clock.advance(1s);
    const auto& run = (*claimed)[i];
    ASSERT_TRUE(store.finishRun(run.run_id, RunOutcome::kFailed, {}, "exit code " + run.hook).ok());
  }
  ASSERT_TRUE(store.finishRun((*claimed)[3].run_id, RunOutcome::kSucceeded, {}, "").ok());

  auto failed = store.recentRuns(HookRunState::kFailed, 10);
  ASSERT_TRUE(failed.ok()) << failed.error().message;
  ASSERT_EQ(failed->size(), 3u);
  EXPECT_EQ((*failed)[0].hook, "b");
  EXPECT_EQ((*failed)[1].hook, "a");
  EXPECT_EQ((*failed)[2].hook, "c");
  EXPECT_EQ((*failed)[0].last_error, "exit code b");
  EXPECT_EQ((*failed)[0].attempts, 1);
  EXPECT_EQ((*failed)[0].state, HookRunState::kFailed);
  EXPECT_EQ((*failed)[0].labels, (status::Labels{{"customer", "acme"}}));

  auto two = store.recentRuns(HookRunState::kFailed, 2);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].hook, "a");
  EXPECT_EQ(store.recentRuns(HookRunState::kSucceeded, 10)->size(), 1u);
  EXPECT_TRUE(store.recentRuns(HookRunState::kPending, 10)->empty());
  EXPECT_TRUE(store.recentRuns(HookRunState::kFailed, 0)->empty());
}

}  // namespace
}  // namespace jobwatch::state
