// SPDX-License-Identifier: Apache-2.0
// PollEngine with poll.strategy adaptive: the model learned from restored
// and newly finished jobs steers the budget (poll_engine_adaptive.cpp).
#include <gtest/gtest.h>

#include <ctime>
#include <sstream>

#include "fake_transport.h"
#include "scheduler/poll_engine.h"

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;
using testing::FakeTransport;
using testing::jsonResponse;

std::string iso(WallTime t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct OverdueEvents final : PollEvents {
  void onPollFinished(const PollFinished&) override {}
  void onTransition(const StatusTransition&) override {}
  void onOverdue(const JobRecord& job) override { overdue.push_back(job.id); }
  std::vector<std::string> overdue;
};

class AdaptiveEngineTest : public ::testing::Test {
 protected:
  AdaptiveEngineTest() : log(LogFormat::kText, LogLevel::kDebug, log_text) {}

  PollEngine& make(PollStrategy strategy, Millis overdue_after = Millis{0}) {
    ScheduleSettings s;
    s.overdue_after = overdue_after;
    s.base_url = "http://127.0.0.1:1";
    s.interval = 1s;
    s.jitter = 0;
    s.rate_per_second = 1;  // two jobs want 2/s: the budget binds
    s.max_interval = 20s;
    s.strategy = strategy;
    engine =
        std::make_unique<PollEngine>(s, status::StatusMapper(), transport, clock, events, log, 42);
    return *engine;
  }
  // 30 finished extraction jobs from an earlier run: 540..660 s each.
  void restoreHistory() {
    for (int i = 0; i < 30; ++i) {
      JobRecord done;
      done.id = "old" + std::to_string(i);
      done.status = "completed";
      done.terminal = true;
      done.facts.type = "extraction";
      const WallTime created = clock.wallNow() - 1h;
      done.facts.created_at = iso(created);
      done.facts.updated_at = iso(created + std::chrono::seconds(540 + 4 * i));
      engine->restoreJob(done);
    }
  }
  std::string answer(const std::string& id) {
    const auto age = id == "hot" ? 590s : 5s;  // "hot" is at its type's median
    return R"({"id":")" + id + R"(","status":"PROCESSING","type":"extraction","created_at":")" +
           iso(start_wall - age) + "\"}";
  }
  void run(Millis total) {
    for (Millis t = 0ms; t < total; t += 100ms) {
      engine->step();
      transport.answerAll([&](const std::string& id) { return jsonResponse(200, answer(id)); });
      engine->wait(clock.now());
      engine->step();
      clock.advance(100ms);
    }
  }

  ManualClock clock;
  WallTime start_wall = clock.wallNow();
  FakeTransport transport;
  OverdueEvents events;
  std::ostringstream log_text;
  Log log;
  std::unique_ptr<PollEngine> engine;
};

TEST_F(AdaptiveEngineTest, TheBudgetGoesWhereAFinishIsLikely) {
  auto& e = make(PollStrategy::kAdaptive);
  restoreHistory();
  const TypeDurations* learned = e.durationModels().find(kDefaultAccount, "extraction");
  ASSERT_NE(learned, nullptr);
  EXPECT_EQ(learned->samples(), 30u);
  EXPECT_NEAR(learned->fittedQuantile(0.5), 600, 10);
  e.addJob({"hot", {}});
  e.addJob({"cold", {}});
  run(100s);
  // 1/s for 100 s plus the bucket's first token: never more. (Fewer: the
  // test steps in 100 ms ticks, so a token due at t+1 s is often taken at
  // t+1.1 s.)
  EXPECT_LE(transport.started.size(), 101u);
  EXPECT_GE(transport.started.size(), 85u);
  // The young job (hazard ~0) only every max_interval (20 s); the rest of
  // the budget goes to the job at its median.
  EXPECT_GE(transport.startedFor("cold"), 5u);
  EXPECT_LE(transport.startedFor("cold"), 7u);
  EXPECT_EQ(transport.startedFor("hot") + transport.startedFor("cold"), transport.started.size());
  EXPECT_GE(transport.startedFor("hot"), 80u);
}

TEST_F(AdaptiveEngineTest, RoundRobinSharesTheBudgetEvenly) {
  auto& e = make(PollStrategy::kRoundRobin);
  restoreHistory();
  e.addJob({"hot", {}});
  e.addJob({"cold", {}});
  run(100s);
  EXPECT_LE(transport.started.size(), 101u);
  EXPECT_NEAR(static_cast<double>(transport.startedFor("cold")),
              static_cast<double>(transport.started.size()) / 2, 1);
}

TEST_F(AdaptiveEngineTest, FinishedJobsTeachTheModelAndOurVerdictsDoNot) {
  auto& e = make(PollStrategy::kAdaptive);
  e.addJob({"a", {}}, true);
  e.addJob({"b", {}}, true);
  e.step();
  const std::string created = iso(start_wall - 120s);
  transport.answerAll([&](const std::string& id) {
    const std::string status = id == "a" ? "COMPLETED" : "PROCESSING";
    return jsonResponse(200, R"({"id":")" + id + R"(","status":")" + status +
                                 R"(","type":"ocr","created_at":")" + created +
                                 R"(","updated_at":")" + iso(start_wall - 20s) + "\"}");
  });
  e.wait(clock.now());
  e.step();
  const TypeDurations* ocr = e.durationModels().find(kDefaultAccount, "ocr");
  ASSERT_NE(ocr, nullptr);
  EXPECT_EQ(ocr->samples(), 1u);
  EXPECT_NEAR(ocr->empiricalQuantile(0.5), 100, 1e-6);  // created_at to updated_at
}

TEST_F(AdaptiveEngineTest, OverdueIsRaisedOncePerJobAndRemembered) {
  // auto: past the 99th percentile of the learned 540..660 s (~660 s).
  auto& e = make(PollStrategy::kAdaptive);
  restoreHistory();
  e.addJob({"hot", {}});   // 590 s old: not overdue
  e.addJob({"late", {}});  // 5 s old at first, then 2000 s
  JobRecord remembered;    // raised before a restart: not again
  remembered.id = "remembered";
  remembered.status = "processing";
  remembered.overdue = true;
  remembered.added_at = clock.wallNow();
  e.restoreJob(remembered);
  std::string late_created = iso(start_wall - 5s);
  auto answerWith = [&](const std::string& id) {
    const std::string created = id == "late" ? late_created : iso(start_wall - 590s);
    return jsonResponse(200, R"({"id":")" + id +
                                 R"(","status":"PROCESSING","type":"extraction","created_at":")" +
                                 created + "\"}");
  };
  auto runFor = [&](Millis total) {
    for (Millis t = 0ms; t < total; t += 100ms) {
      e.step();
      transport.answerAll(answerWith);
      e.wait(clock.now());
      e.step();
      clock.advance(100ms);
    }
  };
  runFor(30s);
  EXPECT_TRUE(events.overdue.empty());
  late_created = iso(start_wall - 2000s);
  runFor(60s);
  EXPECT_EQ(events.overdue, (std::vector<std::string>{"late"}));  // once, though polled on
  EXPECT_TRUE(e.find("late")->overdue);
  EXPECT_FALSE(e.find("late")->terminal);
  EXPECT_NE(log_text.str().find("job overdue"), std::string::npos);
  EXPECT_GT(transport.startedFor("remembered"), 0u);
}

TEST_F(AdaptiveEngineTest, FixedOverdueAfterNeedsNoHistory) {
  auto& e = make(PollStrategy::kRoundRobin, 1h);
  e.addJob({"old", {}}, true);
  e.step();
  transport.answerAll([&](const std::string& id) {
    return jsonResponse(200, R"({"id":")" + id + R"(","status":"QUEUED","created_at":")" +
                                 iso(start_wall - 2h) + "\"}");
  });
  e.wait(clock.now());
  e.step();
  EXPECT_EQ(events.overdue, (std::vector<std::string>{"old"}));
}

TEST_F(AdaptiveEngineTest, LiftingTheBudgetStartsEveryWaitingJob) {
  auto& e = make(PollStrategy::kAdaptive);
  for (int i = 0; i < 6; ++i) e.addJob({"j" + std::to_string(i), {}});
  run(3s);  // 1/s: most of them wait in the adaptive pool
  const size_t before = transport.started.size();
  EXPECT_LE(before, 4u);
  ScheduleSettings unlimited = e.settings();
  unlimited.rate_per_second = 0;  // no budget: nothing to choose, all start
  e.updateSettings(unlimited);
  e.step();
  for (int i = 0; i < 6; ++i) EXPECT_GE(transport.startedFor("j" + std::to_string(i)), 1u) << i;
}

TEST(ApiTime, ParsesRfc3339AndRejectsTheRest) {
  EXPECT_EQ(apiTimeSeconds("1970-01-01T00:00:00Z"), 0.0);
  EXPECT_EQ(apiTimeSeconds("2026-11-29T07:33:05Z"), 1795937585.0);
  EXPECT_EQ(apiTimeSeconds("2026-11-29T08:33:05+01:00"), 1795937585.0);
  EXPECT_EQ(apiTimeSeconds("2026-11-29 07:33:05"), 1795937585.0);
  EXPECT_NEAR(*apiTimeSeconds("2026-11-29T07:33:05.250Z"), 1795937585.25, 1e-6);
  for (const char* bad : {"", "yesterday", "2026-13-01T00:00:00Z", "2026-11-29T07:33:05Q",
                          "2026-11-29T07:33", "2026-11-29T07:33:05+0100"}) {
    EXPECT_FALSE(apiTimeSeconds(bad)) << bad;
  }
}

}  // namespace
}  // namespace jobwatch::scheduler
