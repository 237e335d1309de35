// SPDX-License-Identifier: Apache-2.0
// AccountBudget: the engines of one account share one rate limit exactly
// and pause together; another account's engine is never slowed by them.
#include "scheduler/account_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "fake_transport.h"
#include "scheduler/poll_engine.h"

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;
using testing::FakeTransport;
using testing::jsonResponse;

struct NoEvents final : PollEvents {
  void onPollFinished(const PollFinished&) override {}
  void onTransition(const StatusTransition&) override {}
};

api::HttpResponse processing(const std::string& id) {
  return jsonResponse(200, R"({"id":")" + id + R"(","status":"processing","type":"x"})");
}

// One engine thread's parts, driven step by step by the test.
struct Lane {
  Lane(const ScheduleSettings& s, const ManualClock& clock, Log& log, std::uint64_t seed)
      : engine(s, status::StatusMapper(), transport, clock, events, log, seed) {}
  FakeTransport transport;
  NoEvents events;
  PollEngine engine;

  void addJobs(const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) engine.addJob({prefix + std::to_string(i), {}}, true);
  }
  // Delivers answers and starts what is due.
  void turn(const std::function<api::HttpResponse(const std::string&)>& answer) {
    transport.answerAll(answer);
    engine.wait(SteadyTime{});
    engine.step();
  }
};

class AccountBudgetTest : public ::testing::Test {
 protected:
  AccountBudgetTest() : log(LogFormat::kText, LogLevel::kWarn, log_text) {}
  static ScheduleSettings settings(double rate) {
    ScheduleSettings s;
    s.base_url = "http://127.0.0.1:1";
    s.interval = 100ms;  // every job always due: only the budget limits
    s.jitter = 0;
    s.rate_per_second = rate;
    s.strategy = PollStrategy::kRoundRobin;
    return s;
  }
  ManualClock clock;
  std::ostringstream log_text;
  Log log;
};

TEST(AccountBudget, TakesAtMostTheRatePlusOneSecondsBurst) {
  ManualClock clock;
  AccountBudget budget(10, clock.now());
  int taken = 0;
  for (int ms = 0; ms <= 60000; ms += 10) {
    SteadyTime wake = SteadyTime::max();
    while (budget.tryTake(clock.now(), wake)) ++taken;
    EXPECT_GT(wake, clock.now());
    clock.advance(10ms);
  }
  // 10/s for 60 s, plus the bucket's initial second's worth.
  EXPECT_LE(taken, 610);
  EXPECT_GE(taken, 609);
}

// The vendor counts per window: after an idle spell the bucket's burst must
// not push a window past the limit (10/s: never 11 in any second).
TEST(AccountBudget, NoWindowHoldsMoreThanTheLimitEvenAfterAnIdleSpell) {
  ManualClock clock;
  AccountBudget budget(10, clock.now(), 1s);
  std::vector<SteadyTime> sent;
  for (int ms = 0; ms <= 20000; ms += 5) {
    // Busy, idle from 5 s to 8 s (the bucket fills), busy again.
    if (ms < 5000 || ms >= 8000) {
      SteadyTime wake = SteadyTime::max();
      while (budget.tryTake(clock.now(), wake)) {
        sent.push_back(clock.now());
        budget.finished(clock.now());  // answered at once
      }
    }
    clock.advance(5ms);
  }
  size_t most = 0;
  for (size_t i = 0; i < sent.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < sent.size() && sent[j] < sent[i] + 1s; ++j) ++in_window;
    most = std::max(most, in_window);
  }
  EXPECT_EQ(most, 10u);
  // Close to the budget all the same: 17 busy seconds at 10/s, less the
  // margin each window waits (1 s + 10 ms per 10 requests).
  EXPECT_GE(sent.size(), 160u);
  EXPECT_LE(sent.size(), 180u);
}

// The API counts a request when it arrives, which may be long after it took
// its token: it counts here until a window after its answer.
TEST(AccountBudget, ARequestSlowToAnswerCountsAWindowAfterItsAnswer) {
  ManualClock clock;
  AccountBudget budget(5, clock.now(), 1s);
  SteadyTime wake = SteadyTime::max();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(budget.tryTake(clock.now(), wake));
  clock.advance(900ms);  // answered 0.9 s later
  for (int i = 0; i < 5; ++i) budget.finished(clock.now());
  clock.advance(900ms);  // 1.8 s after they were sent, 0.9 s after their answers
  wake = SteadyTime::max();
  EXPECT_FALSE(budget.tryTake(clock.now(), wake));
  EXPECT_EQ(wake, clock.now() - 900ms + 1s + 10ms);  // answer + window + 1 % margin
  clock.advance(120ms);
  EXPECT_TRUE(budget.tryTake(clock.now(), wake));
}

// SPEC "High availability": a fleet's members each take their share of the
// rate, and none starts a request while its lease is not known to hold.
TEST(AccountBudget, AFleetMemberTakesItsShareAndNothingPastItsLease) {
  ManualClock clock;
  const SteadyTime start = clock.now();
  AccountBudget budget(30, start, 1s);
  budget.setFleetTerms(1.0 / 3, start + 10s, start);
  std::vector<SteadyTime> sent;
  for (int ms = 0; ms < 12000; ms += 5) {
    SteadyTime wake = SteadyTime::max();
    while (budget.tryTake(clock.now(), wake)) {
      sent.push_back(clock.now());
      budget.finished(clock.now());
    }
    EXPECT_GT(wake, clock.now());
    clock.advance(5ms);
  }
  // A third of 30/s for the 10 s the lease held, then nothing.
  for (size_t i = 0; i < sent.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < sent.size() && sent[j] < sent[i] + 1s; ++j) ++in_window;
    EXPECT_LE(in_window, 10u);
  }
  EXPECT_GE(sent.size(), 90u);
  EXPECT_LT(sent.back(), start + 10s);
  // Closed: asked again soon; a renewal (and a larger share) opens it.
  SteadyTime wake = SteadyTime::max();
  EXPECT_FALSE(budget.tryTake(clock.now(), wake));
  EXPECT_FALSE(budget.available(clock.now()));
  EXPECT_EQ(wake, clock.now() + AccountBudget::kLeaseRecheck);
  budget.setFleetTerms(1.0 / 2, clock.now() + 10s, clock.now());
  clock.advance(2s);
  int taken = 0;
  while (budget.tryTake(clock.now(), wake)) ++taken;
  EXPECT_EQ(taken, 15);  // half of 30 in a window
}

TEST(AccountBudget, ThreadsTakingAtOnceNeverExceedTheRate) {
  ManualClock clock;
  AccountBudget budget(50, clock.now());
  std::atomic<bool> stop{false};
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        SteadyTime wake = SteadyTime::max();
        if (budget.tryTake(clock.now(), wake)) taken.fetch_add(1);
      }
    });
  }
  // The first second's burst is taken before the clock moves (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (taken.load() < 50 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  EXPECT_EQ(taken.load(), 50);
  for (int ms = 0; ms < 10000; ms += 10) {  // 10 s in steps, the threads racing
    clock.advance(10ms);
    std::this_thread::yield();
  }
  stop = true;
  for (auto& thread : threads) thread.join();
  EXPECT_LE(taken.load(), 50 * 10 + 50);
}

TEST(AccountBudget, APauseHoldsEveryTakeAndReportsOnlyItsStart) {
  ManualClock clock;
  AccountBudget budget(0, clock.now());  // unlimited: only the pause holds
  EXPECT_TRUE(budget.pauseUntil(clock.now() + 2s, clock.now()));
  EXPECT_FALSE(budget.pauseUntil(clock.now() + 1s, clock.now()));  // shorter: no change
  EXPECT_EQ(budget.pausedUntil(), clock.now() + 2s);
  SteadyTime wake = SteadyTime::max();
  EXPECT_FALSE(budget.tryTake(clock.now(), wake));
  EXPECT_EQ(wake, clock.now() + 2s);
  EXPECT_FALSE(budget.available(clock.now()));
  clock.advance(2s);
  EXPECT_TRUE(budget.available(clock.now()));
  EXPECT_TRUE(budget.tryTake(clock.now(), wake));
}

TEST_F(AccountBudgetTest, TwoEnginesOfOneAccountShareItsRateExactly) {
  auto budget = std::make_shared<AccountBudget>(20, clock.now());
  Lane a(settings(20), clock, log, 1), b(settings(20), clock, log, 2);
  a.engine.shareBudget(budget);
  b.engine.shareBudget(budget);
  a.addJobs("a", 200);
  b.addJobs("b", 200);
  // 30 simulated seconds in 5 ms steps, the two engines taking turns in a
  // random order, as two threads would race; every answer comes back at
  // once, so only the budget binds.
  std::mt19937 order(7);
  for (int step = 0; step < 6000; ++step) {
    if (order() % 2 == 0) {
      a.turn(processing);
      b.turn(processing);
    } else {
      b.turn(processing);
      a.turn(processing);
    }
    clock.advance(5ms);
  }
  const size_t sum = a.transport.started.size() + b.transport.started.size();
  // 20/s over 30 s plus the initial burst of one second's worth: never more.
  EXPECT_LE(sum, 20u * 30 + 20);
  EXPECT_GE(sum, 20u * 30);
  // Shared, not one engine starving the other.
  EXPECT_GT(a.transport.started.size(), sum / 3);
  EXPECT_GT(b.transport.started.size(), sum / 3);
}

TEST_F(AccountBudgetTest, A429SeenByOneEnginePausesTheOtherOfItsAccountOnly) {
  auto shared = std::make_shared<AccountBudget>(0, clock.now());
  Lane a(settings(0), clock, log, 1), b(settings(0), clock, log, 2),
      other(settings(0), clock, log, 3);
  a.engine.shareBudget(shared);
  b.engine.shareBudget(shared);  // `other` keeps a budget of its own: another account
  a.addJobs("a", 5);
  b.addJobs("b", 5);
  other.addJobs("o", 5);
  for (Lane* lane : {&a, &b, &other}) lane->engine.step();
  // a's answers are 429 with Retry-After: 10 s.
  a.turn([](const std::string&) { return jsonResponse(429, "{}", 10s); });
  b.turn(processing);
  other.turn(processing);
  const size_t b_before = b.transport.started.size();
  const size_t other_before = other.transport.started.size();
  for (int i = 0; i < 90; ++i) {  // 9 s: inside the pause
    clock.advance(100ms);
    for (Lane* lane : {&a, &b, &other}) lane->turn(processing);
  }
  EXPECT_EQ(b.transport.started.size(), b_before) << "b shares a's account: paused";
  // Each of its 5 jobs answered one turn after it started, due again 100 ms
  // later: at least every 200 ms.
  EXPECT_GE(other.transport.started.size(), other_before + 5 * 40) << "another account: not slowed";
  for (int i = 0; i < 20; ++i) {  // past the pause
    clock.advance(100ms);
    for (Lane* lane : {&a, &b, &other}) lane->turn(processing);
  }
  EXPECT_GT(b.transport.started.size(), b_before);
  EXPECT_NE(log_text.str().find("pausing all polls"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::scheduler
