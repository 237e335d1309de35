// SPDX-License-Identifier: Apache-2.0
// The fleet on PostgreSQL (SPEC "High availability"): two stores, as two
// instances on one database, split the jobs; a member whose lease lapsed
// loses its jobs and running hook runs and is fenced; one process per
// instance name; leaving frees at once; a lost connection is a runtime
// error and the next call reconnects.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <thread>

#include "postgres_test_support.h"
#include "state/postgres_state_store.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using testing::at;
using ::testing::HasSubstr;
using testing::sampleJob;
using testing::sampleRun;

class PostgresFleetTest : public testing::PostgresFixture {
 protected:
  void registerJobs(StateStore& store, int n) {
    WriteBatch batch;
    for (int i = 0; i < n; ++i) batch.registered.push_back(sampleJob("job-" + std::to_string(i)));
    ASSERT_TRUE(applyOne(store, batch).ok());
  }
  FleetTick tick(StateStore& store, FleetTickOptions options = {}) {
    auto t = store.fleetTick(options);
    EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.error().message);
    return t.ok() ? std::move(t).value() : FleetTick{};
  }
  // Makes `instance`'s heartbeat an hour old, as if it had stopped renewing.
  void lapse(const std::string& instance) {
    scalar("UPDATE instances SET heartbeat_at = now() - interval '1 hour' WHERE instance = '" +
           instance + "'");
  }
  std::string ownerOf(const std::string& job) {
    return scalar(
        "SELECT i.instance FROM jobs AS j JOIN instances AS i ON i.incarnation = "
        "j.owner WHERE j.id = '" +
        job + "'");
  }
};

TEST_F(PostgresFleetTest, TicksSplitTheRegisteredJobsFairly) {
  auto a = open("a");
  auto b = open("b");
  ASSERT_TRUE(a && b);
  registerJobs(*a, 10);
  const FleetTick ta = tick(*a);
  EXPECT_EQ(ta.claimed.size(), 5u);
  EXPECT_EQ(ta.held, 5u);
  ASSERT_EQ(ta.members.size(), 2u);
  EXPECT_EQ(std::count_if(ta.members.begin(), ta.members.end(),
                          [](const FleetMember& m) { return m.self; }),
            1);
  const FleetTick tb = tick(*b);
  EXPECT_EQ(tb.claimed.size(), 5u);
  EXPECT_TRUE(tb.lost.empty());
  EXPECT_EQ(scalar("SELECT count(*) FROM jobs WHERE owner IS NULL"), "0");
  // Nothing moves while both renew.
  EXPECT_TRUE(tick(*a).claimed.empty());
  EXPECT_TRUE(tick(*b).claimed.empty());
  EXPECT_EQ(a->loadJobs()->size(), 5u);
}

TEST_F(PostgresFleetTest, ANewMemberGetsItsShareFromBalance) {
  auto a = open("a");
  ASSERT_TRUE(a);
  registerJobs(*a, 20);
  EXPECT_EQ(tick(*a).held, 20u);
  auto b = open("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(tick(*b).held, 0u);   // nothing free yet
  const FleetTick ta = tick(*a);  // share 10: keeps 10 + 1 + 1
  EXPECT_EQ(ta.held, 12u);
  EXPECT_EQ(ta.lost.size(), 8u);
  const FleetTick tb = tick(*b);
  EXPECT_EQ(tb.claimed.size(), 8u);
  EXPECT_FALSE(tick(*a, {.claim = true, .max_claim = 2000, .balance = true}).lost.size() > 0);
}

TEST_F(PostgresFleetTest, AMemberWhoseLeaseLapsedLosesItsJobsAndIsFenced) {
  auto a = open("a");
  auto b = open("b");
  ASSERT_TRUE(a && b);
  registerJobs(*a, 4);
  ASSERT_EQ(tick(*a).held, 2u);
  ASSERT_EQ(tick(*b).held, 2u);
  auto held_by_a = a->loadJobs();
  ASSERT_EQ(held_by_a->size(), 2u);
  const std::string victim = held_by_a->front().id;

  lapse("a");
  const FleetTick tb = tick(*b);  // reaps a, then claims everything (a is gone)
  EXPECT_EQ(tb.claimed.size(), 2u);
  EXPECT_EQ(tb.held, 4u);
  EXPECT_EQ(ownerOf(victim), "b");

  // a, not knowing yet, writes a transition of the job: fenced.
  StoredJob changed = held_by_a->front();
  changed.status = "completed";
  changed.terminal = true;
  WriteBatch batch;
  batch.jobs = {changed};
  batch.new_runs = {sampleRun(victim, "completed", "notify")};
  batch.transitions = {{victim, "processing", "completed", at(1s), "u"}};
  ResultRecord pending;
  pending.job_id = victim;
  batch.results = {pending};
  ASSERT_TRUE(applyOne(*a, batch).ok());
  EXPECT_EQ(scalar("SELECT status FROM jobs WHERE id = '" + victim + "'"), "processing");
  EXPECT_EQ(scalar("SELECT count(*) FROM hook_runs"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM job_transitions"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM results"), "0");
  EXPECT_TRUE(a->claimDueRuns(at(1h), 10)->empty());

  const FleetTick ta = tick(*a);
  std::vector<std::string> lost = ta.lost;
  std::sort(lost.begin(), lost.end());
  std::vector<std::string> expected;
  for (const auto& job : *held_by_a) expected.push_back(job.id);
  EXPECT_EQ(lost, expected);
  EXPECT_EQ(ta.held, 0u);
  EXPECT_EQ(ta.members.size(), 2u);  // back in the fleet

  // b, holding it, writes it.
  ASSERT_TRUE(applyOne(*b, batch).ok());
  EXPECT_EQ(scalar("SELECT status FROM jobs WHERE id = '" + victim + "'"), "completed");
  EXPECT_EQ(scalar("SELECT count(*) FROM hook_runs"), "1");
}

TEST_F(PostgresFleetTest, ADeadOwnersRunningHookIsReclaimedAsTheNextAttempt) {
  auto a = open("a");
  auto b = open("b");
  ASSERT_TRUE(a && b);
  registerJobs(*a, 1);
  ASSERT_EQ(tick(*a).held, 1u);
  ASSERT_TRUE(
      applyOne(*a, WriteBatch{{}, {sampleRun("job-0", "completed", "notify")}, {}, {}}).ok());
  auto mine = a->claimDueRuns(at(1s), 10);
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_TRUE(b->claimDueRuns(at(1s), 10)->empty());  // running is not claimable

  lapse("a");
  tick(*b);
  EXPECT_EQ(scalar("SELECT state::text || ',' || (owner IS NULL)::text FROM hook_runs"), "0,true");
  auto taken = b->claimDueRuns(at(1s), 10);
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().attempts, 2);

  // The late outcome is not written (and not an error the hook side would
  // retry for good): the run is b's now.
  ASSERT_TRUE(a->finishRun(mine->front().run_id, RunOutcome::kFailed, {}, "too late").ok());
  ASSERT_TRUE(a->releaseRun(mine->front().run_id).ok());
  EXPECT_EQ(b->countRuns(HookRunState::kRunning).value(), 1u);
  EXPECT_EQ(b->countRuns(HookRunState::kFailed).value(), 0u);
  ASSERT_TRUE(b->finishRun(taken->front().run_id, RunOutcome::kSucceeded, {}, "").ok());
  EXPECT_EQ(b->countRuns(HookRunState::kSucceeded).value(), 1u);
}

// The result file is in the results.dir of the machine that fetched it: a
// with_result run runs only where its job is held, and a takeover fetches
// the result again when such a run still waits; a done result nobody waits
// for is left as it is.
TEST_F(PostgresFleetTest, AWithResultRunRunsWhereItsJobIsHeldAndATakeoverFetchesAgain) {
  auto a = open("a");
  ASSERT_TRUE(a);
  registerJobs(*a, 2);
  ASSERT_EQ(tick(*a).held, 2u);
  auto b = open("b");
  ASSERT_TRUE(b);
  const std::string waiting = "job-0";
  const std::string served = "job-1";
  HookRun fetch = sampleRun(waiting, "completed", "archive");
  fetch.with_result = true;
  auto resultOf = [](const std::string& job, const std::string& file) {
    ResultRecord r;
    r.job_id = job;
    r.state = ResultState::kDone;
    r.file = file;
    return r;
  };
  WriteBatch on_a;
  on_a.new_runs = {fetch};
  on_a.results = {resultOf(waiting, "/a/" + waiting + ".json"),
                  resultOf(served, "/a/" + served + ".json")};
  ASSERT_TRUE(applyOne(*a, on_a).ok());

  EXPECT_TRUE(b->claimDueRuns(at(1h), 10)->empty());  // not b's job
  EXPECT_FALSE(b->nextPendingAt().value().has_value());
  EXPECT_TRUE(a->nextPendingAt().value().has_value());

  lapse("a");
  const FleetTick taken = tick(*b);
  ASSERT_EQ(taken.claimed.size(), 2u);
  ASSERT_EQ(taken.claimed_results.size(), 1u);
  EXPECT_EQ(taken.claimed_results.front().job_id, waiting);
  EXPECT_EQ(taken.claimed_results.front().state, ResultState::kPending);
  EXPECT_TRUE(b->claimDueRuns(at(1h), 10)->empty());  // waits for b's own fetch
  EXPECT_EQ(scalar("SELECT state FROM results WHERE job_id = '" + served + "'"), "1");

  WriteBatch fetched;
  fetched.results = {resultOf(waiting, "/b/" + waiting + ".json")};
  ASSERT_TRUE(applyOne(*b, fetched).ok());
  auto runs = b->claimDueRuns(at(1h), 10);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().result_file, "/b/" + waiting + ".json");
}

TEST_F(PostgresFleetTest, ALeaseOfOneSecondLapsesOnTheDatabasesClock) {
  auto a = open("a", 1s);
  auto b = open("b", 1s);
  ASSERT_TRUE(a && b);
  registerJobs(*a, 2);
  ASSERT_EQ(tick(*a).held, 1u);
  ASSERT_EQ(tick(*b).held, 1u);
  // Only b renews; a's heartbeat is older than the lease within ~1 s.
  bool taken = testing::eventually(
      [&] {
        tick(*b);
        return scalar(
                   "SELECT count(*) FROM jobs WHERE owner IS NOT NULL AND owner <> "
                   "(SELECT incarnation FROM instances WHERE instance = 'b')") == "0" &&
               scalar("SELECT count(*) FROM instances") == "1";
      },
      10s);
  ASSERT_TRUE(taken);
  EXPECT_EQ(b->loadJobs()->size(), 2u);
}

TEST_F(PostgresFleetTest, ASecondProcessWithTheSameInstanceNameIsRefused) {
  auto a = open("a");
  ASSERT_TRUE(a);
  PostgresOptions o = options("a");
  o.max_wait = 300ms;
  int waits = 0;
  o.on_wait = [&](const Error&, std::chrono::milliseconds) { ++waits; };
  auto second = openPostgresStore(o, clock_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::kRuntime);
  EXPECT_THAT(second.error().message, HasSubstr("instance a is already running"));
  EXPECT_GE(waits, 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM instances"), "1");
  a.reset();
  EXPECT_TRUE(open("a"));
}

TEST_F(PostgresFleetTest, LeavingFreesTheJobsAtOnce) {
  auto a = open("a");
  auto b = open("b");
  ASSERT_TRUE(a && b);
  registerJobs(*a, 6);
  ASSERT_EQ(tick(*a).held, 3u);
  ASSERT_EQ(tick(*b).held, 3u);
  ASSERT_TRUE(
      applyOne(
          *a, WriteBatch{{}, {sampleRun(a->loadJobs()->front().id, "completed", "notify")}, {}, {}})
          .ok());
  ASSERT_EQ(a->claimDueRuns(at(1s), 1)->size(), 1u);
  ASSERT_TRUE(a->leaveFleet().ok());
  EXPECT_EQ(scalar("SELECT count(*) FROM hook_runs WHERE state = 0"), "1");
  const FleetTick tb = tick(*b);
  EXPECT_EQ(tb.claimed.size(), 3u);
  EXPECT_EQ(tb.held, 6u);
  EXPECT_EQ(tb.members.size(), 1u);
}

TEST_F(PostgresFleetTest, ALostConnectionIsARuntimeErrorAndTheNextCallReconnects) {
  auto a = open("a");
  ASSERT_TRUE(a);
  registerJobs(*a, 1);
  ASSERT_EQ(tick(*a).held, 1u);
  scalar(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'jobwatchd' AND datname = current_database()");
  auto failed = a->countRuns(HookRunState::kPending);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ErrorKind::kRuntime);
  EXPECT_THAT(failed.error().message, HasSubstr("127.0.0.1"));
  auto again = a->countRuns(HookRunState::kPending);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(*again, 0u);
  // The new session holds the instance lock again: a second "a" is refused.
  PostgresOptions o = options("a");
  o.max_wait = 0ms;
  EXPECT_FALSE(openPostgresStore(o, clock_).ok());
  EXPECT_EQ(tick(*a).held, 1u);
}

// A server that stops answering (here: its backend process stopped, as a
// hung server or a network cut with the kernel still acknowledging) is a
// runtime error after answer_within, not a thread blocked for good; the
// next call connects again once the abandoned session has ended.
TEST_F(PostgresFleetTest, AServerThatStopsAnsweringFailsTheCallInTimeAndTheNextReconnects) {
  PostgresOptions o = options("a");
  o.answer_within = 1s;
  auto opened = openPostgresStore(o, clock_);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  std::unique_ptr<StateStore> a = std::move(opened).value();
  registerJobs(*a, 1);
  ASSERT_EQ(tick(*a).held, 1u);
  const std::string backend = scalar(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'jobwatchd' AND datname = "
      "current_database()");
  ASSERT_FALSE(backend.empty());
  const pid_t pid = std::stoi(backend);
  if (::kill(pid, SIGSTOP) != 0) GTEST_SKIP() << "cannot stop the server's process (not root)";
  auto hung = a->countRuns(HookRunState::kPending);
  ::kill(pid, SIGCONT);
  ASSERT_FALSE(hung.ok());
  EXPECT_EQ(hung.error().kind, ErrorKind::kRuntime);
  EXPECT_THAT(hung.error().message, HasSubstr("no answer within 1000 ms"));
  // The old session ends when it finds us gone (at once, once resumed);
  // until then it holds the instance lock and the call says so.
  Result<size_t> again = Error{"not tried"};
  for (int i = 0; i < 50 && !again.ok(); ++i) {
    again = a->countRuns(HookRunState::kPending);
    if (!again.ok()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(tick(*a).held, 1u);
}

}  // namespace
}  // namespace jobwatch::state
