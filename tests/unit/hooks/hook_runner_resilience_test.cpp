// SPDX-License-Identifier: Apache-2.0
// HookRunner under hostile conditions: a database locked by another
// process (issue 18 #2) and unexpected errors on its threads (issue 11 #4).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <stdexcept>

#include "hook_runner_fixture.h"
#include "hook_test_support.h"
#include "hooks/hook_runner.h"

namespace jobwatch::hooks {
namespace {

using testing::readFile;
using testing::waitUntil;

// Another process (an operator's sqlite3 shell, a backup tool) holding the
// database locked makes every store call wait up to the busy timeout. That
// must delay only the ledger: timeouts, reaping and durations go on.
TEST_F(HookRunnerTest, TimeoutsAndDurationsHoldWhileTheDatabaseIsLocked) {
  std::string slow_start = path("slow-start"), slow_term = path("slow-term");
  std::string short_start = path("short-start");
  addRuns({sampleRun("j1", "slow"), sampleRun("j2", "short")});
  auto runner = makeRunner(
      options({shellHook("slow",
                         "trap 'date +%s%N > " + slow_term + "; exit 143' TERM; date +%s%N > " +
                             slow_start + "; sleep 30 & wait",
                         1s),
               shellHook("short", "touch " + short_start + "; sleep 1")}));
  runner->start();
  ASSERT_TRUE(waitUntil([&] {
    return !readFile(slow_start).empty() && ::access(short_start.c_str(), F_OK) == 0;
  })) << logs_.text();

  sqlite3* locker = nullptr;
  ASSERT_EQ(sqlite3_open((dir_.path() / "state.db").c_str(), &locker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(locker, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(locker);
  runner->wake();  // the ledger now waits on the lock (a claim is a write)
  // Both hooks end while the database is still locked.
  const bool ended_while_locked =
      waitUntil([&] { return !readFile(slow_term).empty() && events_.finishedCount() == 2; }, 4s);
  ASSERT_EQ(sqlite3_exec(locker, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(locker);
  ASSERT_TRUE(ended_while_locked) << "a locked database held back timeouts or reaping\n"
                                  << logs_.text();

  const double term_after =
      (std::stoll(readFile(slow_term)) - std::stoll(readFile(slow_start))) / 1e9;
  EXPECT_GE(term_after, 0.9);
  EXPECT_LT(term_after, 1.7) << "SIGTERM came late";
  for (const auto& f : events_.finished()) {
    if (f.hook != "short") continue;
    EXPECT_EQ(f.result, HookResult::kSuccess);
    EXPECT_GE(f.duration.count(), 0.95);
    EXPECT_LT(f.duration.count(), 1.7) << "the duration includes waiting for the disk";
  }
  // Once the lock is gone the outcomes reach the ledger.
  ASSERT_TRUE(waitUntil([&] {
    return ledgerState("j1", "slow", HookRunState::kFailed) &&
           ledgerState("j2", "short", HookRunState::kSucceeded);
  })) << logs_.text();
  runner->stop();
  EXPECT_EQ(ledger("j1", "slow").last_error, "timed out after 1s (exit code 143)");
}

// Events that fail as a bug would: an exception on a runner thread.
class ThrowingEvents : public RecordingEvents {
 public:
  std::string throw_on_finished;  // hook name
  bool throw_on_pending = false;
  void onHookFinished(const std::string& hook, HookResult result,
                      std::chrono::duration<double> duration) override {
    if (hook == throw_on_finished) throw std::runtime_error("metrics exploded");
    RecordingEvents::onHookFinished(hook, result, duration);
  }
  void onPendingChanged(size_t pending) override {
    if (throw_on_pending) throw std::runtime_error("gauge exploded");
    RecordingEvents::onPendingChanged(pending);
  }
};

TEST_F(HookRunnerTest, SupervisorFailureIsReportedOnceAndLeavesNoChildBehind) {
  std::string pid_file = path("pid");
  addRuns({sampleRun("j1", "sleeper"), sampleRun("j2", "boom")});
  ThrowingEvents events;
  events.throw_on_finished = "boom";
  auto o = options({shellHook("sleeper", "echo $$ > " + pid_file + "; sleep 300"),
                    shellHook("boom", "while [ ! -s " + pid_file + " ]; do sleep 0.01; done")});
  o.drain_timeout = 10s;  // not waited for: a failed supervisor kills at once
  auto runner = std::make_unique<HookRunner>(std::move(o), *store_, clock_, log_, &events);
  runner->start();
  ASSERT_TRUE(waitUntil([&] { return runner->failed(); })) << logs_.text();
  const pid_t pgid = std::stoi(readFile(pid_file));
  EXPECT_TRUE(testing::groupGone(pgid)) << "the sleeper survived its supervisor";
  EXPECT_TRUE(waitUntil([&] { return runner->running() == 0u; }));
  const auto start = std::chrono::steady_clock::now();
  runner->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);

  EXPECT_EQ(logs_.count("hook supervisor failed"), 1u) << logs_.text();
  EXPECT_NE(logs_.text().find("error=\"metrics exploded\""), std::string::npos) << logs_.text();
  EXPECT_EQ(logs_.count("continuing"), 0u);
  // Both runs were released (the one that failed to conclude too): the
  // next start runs them again, as repeats.
  for (const auto& [job, hook] : {std::pair{"j1", "sleeper"}, std::pair{"j2", "boom"}}) {
    HookRun row = ledger(job, hook);
    EXPECT_EQ(row.state, HookRunState::kPending) << hook;
    EXPECT_EQ(row.attempts, 1) << hook;
  }
}

TEST_F(HookRunnerTest, LedgerFailureIsReportedOnceAndNotCarriedOn) {
  addRuns({sampleRun("j1", "quick")});
  ThrowingEvents events;
  events.throw_on_pending = true;
  auto runner = std::make_unique<HookRunner>(options({shellHook("quick", "true")}), *store_, clock_,
                                             log_, &events);
  runner->runUntilIdle(10s);  // returns at the failure, not at the bound
  EXPECT_TRUE(runner->failed());
  EXPECT_EQ(logs_.count("hook ledger thread failed"), 1u) << logs_.text();
  EXPECT_NE(logs_.text().find("error=\"gauge exploded\""), std::string::npos) << logs_.text();
  EXPECT_EQ(logs_.count("continuing"), 0u);
  EXPECT_EQ(runner->running(), 0u);
}

}  // namespace
}  // namespace jobwatch::hooks
