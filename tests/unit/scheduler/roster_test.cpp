// SPDX-License-Identifier: Apache-2.0
// The Roster against a real engine, a real SQLite store and its writer:
// what is watched, what reaches the store, and tombstones.
#include "scheduler/roster.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "../state/state_test_support.h"
#include "fake_transport.h"

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;
using state::testing::TempDir;
using testing::FakeTransport;

watchlist::WatchParse file(std::vector<std::string> ids, bool with_problem = false) {
  watchlist::WatchParse parsed;
  for (auto& id : ids) parsed.entries.push_back({std::move(id), {}});
  if (with_problem) parsed.issues.push_back({"jobs.yaml", 3, "bad job ID"});
  return parsed;
}

class RosterTest : public ::testing::Test {
 protected:
  RosterTest() : log(LogFormat::kText, LogLevel::kDebug, log_text) {
    store = state::StateStore::open(dir / "state.db").value();
    writer = std::make_unique<state::StateWriter>(*store, log, clock, [] {});
    writer->start();
    ScheduleSettings s;
    s.base_url = "http://127.0.0.1:1";
    engine =
        std::make_unique<PollEngine>(s, status::StatusMapper(), transport, clock, events, log, 7);
  }
  ~RosterTest() override { writer->stop(5s); }

  Roster& make(ShardSpec shard = {}) {
    roster = std::make_unique<Roster>(*engine, *writer, shard);
    return *roster;
  }
  std::vector<std::string> watched() const {
    std::vector<std::string> ids;
    engine->forEachJob([&](const JobRecord& job) { ids.push_back(job.id); });
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  std::vector<std::string> stored() {
    EXPECT_TRUE(writer->flush(5s));
    std::vector<std::string> ids;
    for (const auto& job : store->loadJobs().value()) ids.push_back(job.id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  std::vector<std::string> tombstones() {
    EXPECT_TRUE(writer->flush(5s));
    return store->loadForgotten().value();
  }
  // A job that finished `ago` before the clock's wall time.
  void finished(const std::string& id, status::JobSource source, Millis ago) {
    JobRecord job;
    job.id = id;
    job.source = source;
    job.status = "completed";
    job.terminal = true;
    job.added_at = clock.wallNow() - 1h;
    job.terminal_at = clock.wallNow() - ago;
    ASSERT_TRUE(engine->restoreJob(job));
    state::WriteBatch batch;
    batch.jobs.push_back(toStoredJob(job, "{}"));
    writer->enqueue(std::move(batch));
  }

  TempDir dir;
  ManualClock clock;
  FakeTransport transport;
  PollEventsFanout events{{}};
  std::ostringstream log_text;
  Log log;
  std::unique_ptr<state::StateStore> store;
  std::unique_ptr<state::StateWriter> writer;
  std::unique_ptr<PollEngine> engine;
  std::unique_ptr<Roster> roster;
};

using Ids = std::vector<std::string>;

TEST_F(RosterTest, WatchFileJobsAreWatchedAndStoredAndLeaveWithTheFile) {
  Roster& r = make();
  auto applied = r.applyWatchFile(file({"a", "b", "c"}), false);
  EXPECT_EQ(applied.listed, 3u);
  EXPECT_EQ(applied.added, 3u);
  EXPECT_EQ(watched(), (Ids{"a", "b", "c"}));
  EXPECT_EQ(stored(), (Ids{"a", "b", "c"}));

  applied = r.applyWatchFile(file({"a", "c", "d"}), false);
  EXPECT_EQ(applied.added, 1u);
  EXPECT_EQ(applied.unwatched, 1u);
  EXPECT_EQ(watched(), (Ids{"a", "c", "d"}));
  EXPECT_EQ(stored(), (Ids{"a", "c", "d"}));
}

TEST_F(RosterTest, AFileWithProblemsUnwatchesNothing) {
  Roster& r = make();
  (void)r.applyWatchFile(file({"a", "b"}), false);
  const auto applied = r.applyWatchFile(file({"a"}, /*with_problem=*/true), false);
  EXPECT_TRUE(applied.kept_missing);
  EXPECT_EQ(applied.rejected, 1u);
  EXPECT_EQ(applied.unwatched, 0u);
  EXPECT_EQ(watched(), (Ids{"a", "b"}));
}

TEST_F(RosterTest, DroppedJobsStayWhenTheWatchFileChanges) {
  Roster& r = make();
  EXPECT_EQ(r.addDropped({{"x", {{"k", "v"}}}, {"y", {}}}), 2u);
  EXPECT_EQ(r.addDropped({{"x", {}}}), 0u);  // already watched: merged, not new
  (void)r.applyWatchFile(file({"a"}), false);
  EXPECT_EQ(watched(), (Ids{"a", "x", "y"}));
  EXPECT_EQ(stored(), (Ids{"a", "x", "y"}));
  EXPECT_EQ(engine->find("x")->labels.at("k"), "v");
}

TEST_F(RosterTest, OnlyThisShardsJobsAreWatched) {
  Roster& r = make({0, 2});
  const Ids ids = {"j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8"};
  const auto applied = r.applyWatchFile(file(ids), false);
  r.addDropped({{"d1", {}}, {"d2", {}}, {"d3", {}}, {"d4", {}}});
  size_t mine = 0;
  for (const auto& id : ids) mine += r.inShard(id);
  EXPECT_EQ(applied.added, mine);
  EXPECT_EQ(applied.other_shards, ids.size() - mine);
  for (const auto& id : watched()) EXPECT_TRUE(r.inShard(id)) << id;
  EXPECT_GT(mine, 0u);
  EXPECT_LT(mine, ids.size());
}

TEST_F(RosterTest, ForgettingFlowsFromTheEngineToTheStoreAndLeavesTombstonesForWatchFileJobs) {
  Roster& r = make();
  (void)r.applyWatchFile(file({"live"}), false);
  finished("old-file", status::JobSource::kWatchFile, 10h);
  finished("old-drop", status::JobSource::kDropDir, 10h);
  finished("recent", status::JobSource::kWatchFile, 1h);

  const auto forgotten = r.forgetFinished(clock.wallNow() - 5h);
  EXPECT_EQ(forgotten, (Ids{"old-drop", "old-file"}));
  EXPECT_EQ(watched(), (Ids{"live", "recent"}));
  EXPECT_EQ(stored(), (Ids{"live", "recent"}));
  EXPECT_EQ(tombstones(), (Ids{"old-file"}));
  EXPECT_TRUE(r.forgetFinished(clock.wallNow() - 5h).empty());  // nothing twice

  // Still listed: not watched (and hooked) again.
  auto applied = r.applyWatchFile(file({"live", "recent", "old-file"}), false);
  EXPECT_EQ(applied.added, 0u);
  EXPECT_EQ(watched(), (Ids{"live", "recent"}));
  // Gone from the file: the tombstone goes too, so it could come back later.
  (void)r.applyWatchFile(file({"live", "recent"}), false);
  EXPECT_TRUE(tombstones().empty());
  applied = r.applyWatchFile(file({"live", "recent", "old-file"}), false);
  EXPECT_EQ(applied.added, 1u);
}

TEST_F(RosterTest, RestoreBringsBackJobsAndTombstones) {
  {
    Roster& r = make();
    (void)r.applyWatchFile(file({"a"}), false);
    finished("done", status::JobSource::kWatchFile, 10h);
    (void)r.forgetFinished(clock.wallNow() - 1h);
    ASSERT_TRUE(writer->flush(5s));
  }
  // A new engine and roster, as after a restart.
  ScheduleSettings s;
  s.base_url = "http://127.0.0.1:1";
  engine =
      std::make_unique<PollEngine>(s, status::StatusMapper(), transport, clock, events, log, 8);
  Roster& r = make();
  EXPECT_EQ(r.restore(store->loadJobs().value(), store->loadForgotten().value()), 0u);
  EXPECT_EQ(watched(), (Ids{"a"}));
  EXPECT_EQ(r.tombstones(), 1u);
  EXPECT_EQ(r.applyWatchFile(file({"a", "done"}), false).added, 0u);
}

// SPEC "High availability": in a fleet the store, not the roster, decides
// which instance polls a job. New jobs are registered (stored, held by
// nobody), claimed jobs are adopted, lost ones released without a write.
TEST_F(RosterTest, AFleetRosterRegistersNewJobsAndWatchesOnlyWhatItIsHanded) {
  Roster& r = make();
  r.joinFleet();
  auto applied = r.applyWatchFile(file({"a", "b", "c"}), false);
  EXPECT_EQ(applied.added, 3u);
  EXPECT_TRUE(watched().empty());
  EXPECT_EQ(r.addDropped({{"x", {{"k", "v"}}}}), 1u);
  EXPECT_TRUE(watched().empty());
  EXPECT_EQ(stored(), (Ids{"a", "b", "c", "x"}));

  // The fleet hands it a, b and x, as stored.
  std::vector<state::StoredJob> claimed = store->loadJobs().value();
  claimed.erase(std::remove_if(claimed.begin(), claimed.end(),
                               [](const state::StoredJob& j) { return j.id == "c"; }),
                claimed.end());
  EXPECT_EQ(r.adopt(claimed), 3u);
  EXPECT_EQ(watched(), (Ids{"a", "b", "x"}));
  EXPECT_EQ(engine->find("x")->labels.at("k"), "v");
  EXPECT_EQ(engine->find("x")->source, status::JobSource::kDropDir);
  // Registering again what it holds is nothing new.
  EXPECT_EQ(r.applyWatchFile(file({"a", "b", "c"}), false).added, 1u);  // c, held by nobody

  // Lost to another instance: no longer polled here, still stored.
  EXPECT_EQ(r.release({"b", "not-here"}), 1u);
  EXPECT_EQ(watched(), (Ids{"a", "x"}));
  EXPECT_EQ(stored(), (Ids{"a", "b", "c", "x"}));
}

TEST_F(RosterTest, AFleetRosterUnwatchesAnAdoptedJobThatLeftTheWatchFileMeanwhile) {
  Roster& r = make();
  r.joinFleet();
  (void)r.applyWatchFile(file({"a", "b"}), false);
  ASSERT_TRUE(writer->flush(5s));
  std::vector<state::StoredJob> claimed = store->loadJobs().value();
  (void)r.applyWatchFile(file({"a"}), false);  // b left while nobody held it
  EXPECT_EQ(r.adopt(claimed), 1u);
  EXPECT_EQ(watched(), (Ids{"a"}));
  EXPECT_EQ(stored(), (Ids{"a"}));  // the holder removed it
}

}  // namespace
}  // namespace jobwatch::scheduler
