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

struct NoEvents final : PollEvents {
  void onPollFinished(const PollFinished&) override {}
  void onTransition(const StatusTransition&) override {}
};

class AdaptiveEngineTest : public ::testing::Test {
 protected:
  AdaptiveEngineTest() : log(LogFormat::kText, LogLevel::kDebug, log_text) {}

  PollEngine& make(PollStrategy strategy) {
    ScheduleSettings s;
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
  NoEvents events;
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
