// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_engine.h"

#include <gtest/gtest.h>

#include <sstream>

#include "fake_transport.h"

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;
using testing::failedResponse;
using testing::FakeTransport;
using testing::jsonResponse;

std::string body(const std::string& id, const std::string& status, const std::string& extra = "") {
  return R"({"id":")" + id + R"(","status":")" + status +
         R"(","type":"extraction","pdf_name":"r.pdf")" + extra + "}";
}

struct Recorder final : PollEvents {
  struct Change {
    std::string id, from, to, body;
  };
  std::vector<Change> changes;
  std::map<api::PollResultKind, int> polls;
  std::vector<std::string> watched, unwatched;
  void onJobWatched(const JobRecord& job) override { watched.push_back(job.id); }
  void onJobUnwatched(const JobRecord& job) override { unwatched.push_back(job.id); }
  void onPollFinished(const PollFinished& p) override { ++polls[p.result]; }
  void onTransition(const StatusTransition& t) override {
    changes.push_back({t.job.id, t.from, t.to, std::string(t.body)});
  }
  std::vector<std::string> path(const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& c : changes) {
      if (c.id == id) out.push_back(c.to);
    }
    return out;
  }
};

class PollEngineTest : public ::testing::Test {
 protected:
  PollEngineTest() : log(LogFormat::kText, LogLevel::kDebug, log_text) {}

  PollEngine& make(ScheduleSettings s = {}) {
    if (s.base_url.empty()) s.base_url = "http://127.0.0.1:1";
    engine =
        std::make_unique<PollEngine>(s, status::StatusMapper(), transport, clock, events, log, 42);
    return *engine;
  }
  // One scheduler round: start due polls, let the test answer, then deliver answers.
  void deliver() {
    engine->wait(clock.now());
    engine->step();
  }
  void answerAll(const std::function<api::HttpResponse(const std::string&)>& fn) {
    transport.answerAll(fn);
    deliver();
  }
  // Advances simulated time in `tick` steps, answering every poll with `fn`.
  void run(Millis total, Millis tick,
           const std::function<api::HttpResponse(const std::string&)>& fn) {
    for (Millis t = 0ms; t < total; t += tick) {
      engine->step();
      answerAll(fn);
      clock.advance(tick);
    }
  }

  ManualClock clock;
  FakeTransport transport;
  Recorder events;
  std::ostringstream log_text;
  Log log;
  std::unique_ptr<PollEngine> engine;
};

TEST_F(PollEngineTest, NewJobsAreSpreadOverOneInterval) {
  ScheduleSettings s;
  s.interval = 5s;
  s.max_in_flight = 100000;
  auto& e = make(s);
  for (int i = 0; i < 1000; ++i) e.addJob({"job-" + std::to_string(i), {}});
  int per_half_second[10] = {};
  for (int tick = 0; tick <= 50; ++tick) {  // 100 ms ticks over one interval
    size_t before = transport.started.size();
    e.step();
    per_half_second[std::min(tick / 5, 9)] += static_cast<int>(transport.started.size() - before);
    transport.open.clear();
    clock.advance(100ms);
  }
  EXPECT_EQ(transport.started.size(), 1000u);
  for (int n : per_half_second) EXPECT_NEAR(n, 100, 40);
}

TEST_F(PollEngineTest, QueuedProcessingCompletedGivesTransitionsThenNoMorePolls) {
  ScheduleSettings s;
  s.interval = 1s;
  auto& e = make(s);
  e.addJob({"j1", {}}, true);
  std::string status = "queued";
  for (const char* next : {"queued", "PROCESSING", "PROCESSING", "COMPLETED"}) {
    status = next;
    e.step();
    ASSERT_EQ(transport.open.size(), 1u);
    answerAll([&](const std::string& id) { return jsonResponse(200, body(id, status)); });
    clock.advance(1200ms);
  }
  EXPECT_EQ(events.path("j1"), (std::vector<std::string>{"queued", "processing", "completed"}));
  EXPECT_EQ(events.changes.back().body, body("j1", "COMPLETED"));
  const size_t polls = transport.started.size();
  run(60s, 500ms, [&](const std::string& id) { return jsonResponse(200, body(id, "COMPLETED")); });
  EXPECT_EQ(transport.started.size(), polls) << "a terminal job must never be polled again";
  EXPECT_TRUE(e.find("j1")->terminal);
}

TEST_F(PollEngineTest, PollsAreJitteredAroundTheInterval) {
  ScheduleSettings s;
  s.interval = 5s;
  s.jitter = 0.1;
  auto& e = make(s);
  e.addJob({"j1", {}}, true);
  std::vector<SteadyTime> starts;
  for (int tick = 0; tick < 6000; ++tick) {  // 10 simulated minutes in 100 ms ticks
    size_t before = transport.started.size();
    e.step();
    if (transport.started.size() > before) starts.push_back(clock.now());
    answerAll([](const std::string& id) { return jsonResponse(200, body(id, "PROCESSING")); });
    clock.advance(100ms);
  }
  ASSERT_GT(starts.size(), 100u);
  for (size_t i = 1; i < starts.size(); ++i) {
    auto gap = starts[i] - starts[i - 1];
    EXPECT_GE(gap, 4500ms);
    EXPECT_LE(gap, 5600ms);  // 5.5 s plus one tick of granularity
  }
}

TEST_F(PollEngineTest, ServerErrorsBackOffAndNeverChangeStatus) {
  ScheduleSettings s;
  s.interval = 1s;
  s.backoff_max = 60s;
  auto& e = make(s);
  e.addJob({"j1", {}}, true);
  run(2s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "PROCESSING")); });
  const size_t before = transport.started.size();
  run(10min, 100ms, [](const std::string&) { return jsonResponse(500, "oops"); });
  const size_t during = transport.started.size() - before;
  // Backoff 2s,4s,...,60s: about 15 polls in 10 min instead of 600 at the interval.
  EXPECT_LE(during, 25u);
  EXPECT_GE(during, 8u);
  EXPECT_EQ(e.find("j1")->status, "processing");
  EXPECT_EQ(events.changes.size(), 1u);
  EXPECT_NE(log_text.str().find("API unreachable"), std::string::npos);
  run(2min, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "COMPLETED")); });
  EXPECT_EQ(events.path("j1"), (std::vector<std::string>{"processing", "completed"}));
  EXPECT_NE(log_text.str().find("API reachable again"), std::string::npos);
}

TEST_F(PollEngineTest, TransportFailuresAreOutagesToo) {
  auto& e = make();
  e.addJob({"j1", {}}, true);
  e.step();
  answerAll([](const std::string&) { return failedResponse(api::TransportOutcome::kTimeout); });
  e.step();
  EXPECT_EQ(events.polls[api::PollResultKind::kTimeout], 1);
  EXPECT_TRUE(events.changes.empty());
  EXPECT_EQ(e.find("j1")->status, "unknown");
  EXPECT_EQ(e.find("j1")->consecutive_errors, 1);
}

TEST_F(PollEngineTest, RetryAfterPausesEveryJob) {
  ScheduleSettings s;
  s.interval = 1s;
  s.jitter = 0;
  auto& e = make(s);
  for (int i = 0; i < 5; ++i) e.addJob({"j" + std::to_string(i), {}}, true);
  e.step();
  ASSERT_EQ(transport.open.size(), 5u);
  answerAll([](const std::string&) { return jsonResponse(429, "{}", std::chrono::seconds(2)); });
  const size_t after_429 = transport.started.size();
  const SteadyTime paused_at = clock.now();
  for (int tick = 0; tick < 19; ++tick) {  // 1.9 s
    clock.advance(100ms);
    e.step();
    ASSERT_EQ(transport.started.size(), after_429)
        << "no request during Retry-After, at +" << (clock.now() - paused_at).count();
  }
  clock.advance(100ms);
  e.step();
  EXPECT_EQ(transport.started.size(), after_429 + 5);
  EXPECT_EQ(events.polls[api::PollResultKind::kRateLimited], 5);
  EXPECT_NE(log_text.str().find("pausing all polls"), std::string::npos);
}

TEST_F(PollEngineTest, RateLimitIsSharedAndFair) {
  ScheduleSettings s;
  s.interval = 1s;
  s.rate_per_second = 10;
  auto& e = make(s);
  for (int i = 0; i < 200; ++i) e.addJob({"j" + std::to_string(i), {}});
  run(100s, 50ms, [](const std::string& id) { return jsonResponse(200, body(id, "PROCESSING")); });
  // 10/s for 100 s, plus the initial bucket of 10.
  EXPECT_LE(transport.started.size(), 1010u);
  EXPECT_GE(transport.started.size(), 990u);
  size_t lo = SIZE_MAX, hi = 0;
  for (int i = 0; i < 200; ++i) {
    size_t n = transport.startedFor("j" + std::to_string(i));
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_LE(hi - lo, 1u) << "oldest-due-first must share the budget evenly";
}

TEST_F(PollEngineTest, MaxInFlightIsRespected) {
  ScheduleSettings s;
  s.max_in_flight = 3;
  auto& e = make(s);
  for (int i = 0; i < 10; ++i) e.addJob({"j" + std::to_string(i), {}}, true);
  e.step();
  EXPECT_EQ(transport.open.size(), 3u);
  e.step();
  EXPECT_EQ(transport.open.size(), 3u);
  answerAll([](const std::string& id) { return jsonResponse(200, body(id, "queued")); });
  e.step();
  EXPECT_EQ(transport.open.size(), 3u);
  EXPECT_EQ(transport.started.size(), 6u);
}

TEST_F(PollEngineTest, RepeatedNotFoundBecomesTerminal) {
  ScheduleSettings s;
  s.interval = 1s;
  s.not_found_after = 3;
  auto& e = make(s);
  e.addJob({"gone", {}}, true);
  run(30s, 100ms, [](const std::string&) { return jsonResponse(404, R"({"detail":"x"})"); });
  EXPECT_EQ(transport.startedFor("gone"), 3u);
  EXPECT_EQ(events.path("gone"), (std::vector<std::string>{"not_found"}));
  EXPECT_TRUE(e.find("gone")->terminal);
}

TEST_F(PollEngineTest, NotFoundStreakIsBrokenByASuccess) {
  ScheduleSettings s;
  s.interval = 1s;
  s.not_found_after = 2;
  auto& e = make(s);
  e.addJob({"j", {}}, true);
  int n = 0;
  run(20s, 100ms, [&](const std::string& id) {
    return ++n % 2 ? jsonResponse(404, "{}") : jsonResponse(200, body(id, "queued"));
  });
  EXPECT_EQ(events.path("j"), (std::vector<std::string>{"queued"}));
}

TEST_F(PollEngineTest, GiveUpAfterTimesOutWithoutPolling) {
  ScheduleSettings s;
  s.interval = 1s;
  s.give_up_after = 10s;
  s.backoff_max = 5min;
  auto& e = make(s);
  e.addJob({"slow", {}}, true);
  run(3s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "PROCESSING")); });
  // An outage with long backoff must not delay the give-up.
  run(9s, 100ms, [](const std::string&) { return jsonResponse(502, ""); });
  EXPECT_EQ(events.path("slow"), (std::vector<std::string>{"processing", "timed_out"}));
  const size_t polls = transport.started.size();
  run(10s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "COMPLETED")); });
  EXPECT_EQ(transport.started.size(), polls);
}

TEST_F(PollEngineTest, AuthErrorsSlowToBackoffMaxAndKeepStatus) {
  ScheduleSettings s;
  s.interval = 1s;
  s.backoff_max = 30s;
  auto& e = make(s);
  e.addJob({"j", {}}, true);
  run(2s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "queued")); });
  const size_t before = transport.started.size();
  run(95s, 100ms, [](const std::string&) { return jsonResponse(401, "{}"); });
  EXPECT_EQ(transport.started.size() - before, 4u);  // at 0, 30, 60, 90 s
  EXPECT_EQ(e.find("j")->status, "queued");
  EXPECT_NE(log_text.str().find("API rejected the key"), std::string::npos);
}

TEST_F(PollEngineTest, UnknownStatusIsKeptWarnedOnceAndPolledOn) {
  ScheduleSettings s;
  s.interval = 1s;
  auto& e = make(s);
  e.addJob({"a", {}}, true);
  e.addJob({"b", {}}, true);
  run(5s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "Review")); });
  EXPECT_EQ(e.find("a")->status, "review");
  EXPECT_FALSE(e.find("a")->terminal);
  EXPECT_GE(transport.startedFor("a"), 4u);
  const std::string text = log_text.str();
  const auto first = text.find("unrecognised job status");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find("unrecognised job status", first + 1), std::string::npos);
}

TEST_F(PollEngineTest, AFreshStatusWordPerPollIsWarnedAboutBoundedly) {
  ScheduleSettings s;
  s.interval = 1s;
  s.jitter = 0;
  s.max_in_flight = 1000;
  auto& e = make(s);
  for (int i = 0; i < 200; ++i) e.addJob({"j" + std::to_string(i), {}}, true);
  int word = 0;
  // 30 s of polls, every answer a word never seen before: ~6,000 words.
  run(30s, 100ms, [&](const std::string& id) {
    return jsonResponse(200, body(id, "w" + std::to_string(word++)));
  });
  ASSERT_GT(word, 5000);
  const std::string text = log_text.str();
  size_t warnings = 0;
  for (auto pos = text.find("unrecognised job status"); pos != std::string::npos;
       pos = text.find("unrecognised job status", pos + 1)) {
    ++warnings;
  }
  EXPECT_GE(warnings, 1u);
  EXPECT_LE(warnings, 4u);  // at most one per 10 s
  EXPECT_NE(text.find("more_not_logged"), std::string::npos);
  // Counts hold only the words jobs have now.
  EXPECT_LE(e.statusCounts().size(), 200u);
}

TEST_F(PollEngineTest, NoPollStartsWhileAdmissionSaysNoAndNothingIsLost) {
  ScheduleSettings s;
  s.interval = 1s;
  auto& e = make(s);
  bool room = false;
  e.setAdmission([&] { return room; });
  for (int i = 0; i < 5; ++i) e.addJob({"j" + std::to_string(i), {}}, true);
  const SteadyTime wake = e.step();
  EXPECT_TRUE(transport.started.empty());
  EXPECT_LE(wake - clock.now(), 10ms);  // asks again soon, without waiting itself
  clock.advance(10ms);
  e.step();
  EXPECT_TRUE(transport.started.empty());
  room = true;
  e.step();
  EXPECT_EQ(transport.started.size(), 5u);  // every due job, none skipped
}

TEST_F(PollEngineTest, AliasesAndExtraTerminalStatuses) {
  ScheduleSettings s;
  s.interval = 1s;
  auto& e = make(s);
  e.addJob({"s", {}}, true);
  e.addJob({"c", {}}, true);
  run(3s, 100ms, [](const std::string& id) {
    return jsonResponse(200, body(id, id == "s" ? "Succeeded" : "Cancelled"));
  });
  EXPECT_EQ(events.path("s"), (std::vector<std::string>{"completed"}));
  EXPECT_EQ(events.path("c"), (std::vector<std::string>{"cancelled"}));
  EXPECT_EQ(transport.started.size(), 2u);
}

TEST_F(PollEngineTest, BodyForAnotherJobIsAParseError) {
  auto& e = make();
  e.addJob({"mine", {}}, true);
  e.step();
  answerAll([](const std::string&) { return jsonResponse(200, body("other", "COMPLETED")); });
  EXPECT_EQ(events.polls[api::PollResultKind::kParseError], 1);
  EXPECT_TRUE(events.changes.empty());
}

TEST_F(PollEngineTest, RemovedJobsAnswerIsDiscarded) {
  auto& e = make();
  e.addJob({"j", {}}, true);
  e.step();
  ASSERT_EQ(transport.open.size(), 1u);
  EXPECT_TRUE(e.removeJob("j"));
  answerAll([](const std::string& id) { return jsonResponse(200, body(id, "COMPLETED")); });
  EXPECT_TRUE(events.changes.empty());
  EXPECT_EQ(e.inFlight(), 0u);
  EXPECT_EQ(e.jobCount(), 0u);
  EXPECT_TRUE(e.statusCounts().empty());
  EXPECT_EQ(events.watched, std::vector<std::string>{"j"});
  EXPECT_EQ(events.unwatched, std::vector<std::string>{"j"});
}

TEST_F(PollEngineTest, RestoredJobsKeepTheirStatusAndTerminalOnesAreNeverPolled) {
  ScheduleSettings s;
  s.interval = 1s;
  auto& e = make(s);
  JobRecord done;
  done.id = "done";
  done.status = "completed";
  done.terminal = true;
  done.added_at = clock.wallNow();
  JobRecord busy;
  busy.id = "busy";
  busy.status = "processing";
  busy.added_at = clock.wallNow();
  EXPECT_TRUE(e.restoreJob(done));
  EXPECT_TRUE(e.restoreJob(busy));
  EXPECT_FALSE(e.restoreJob(busy));
  run(5s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "PROCESSING")); });
  EXPECT_EQ(transport.startedFor("done"), 0u);
  EXPECT_GE(transport.startedFor("busy"), 4u);
  EXPECT_TRUE(events.changes.empty()) << "same status as remembered: no transition";
  EXPECT_EQ(e.statusCounts().at("completed"), 1u);
  EXPECT_EQ(events.watched, (std::vector<std::string>{"done", "busy"}));
}

TEST_F(PollEngineTest, AddingAKnownIdMergesLabels) {
  auto& e = make();
  EXPECT_TRUE(e.addJob({"j", {{"a", "1"}}}));
  EXPECT_FALSE(e.addJob({"j", {{"b", "2"}}}));
  EXPECT_EQ(e.jobCount(), 1u);
  EXPECT_EQ(e.find("j")->labels.size(), 2u);
  EXPECT_EQ(e.statusCounts().at("unknown"), 1u);
}

TEST_F(PollEngineTest, SinglePassPollsEachNonTerminalJobOnce) {
  auto& e = make();
  for (int i = 0; i < 10; ++i) e.addJob({"j" + std::to_string(i), {}});
  e.startSinglePass();
  EXPECT_FALSE(e.passFinished());
  for (int i = 0; i < 5 && !e.passFinished(); ++i) {
    e.step();
    answerAll([](const std::string& id) {
      return id == "j3" ? jsonResponse(500, "") : jsonResponse(200, body(id, "PROCESSING"));
    });
  }
  EXPECT_TRUE(e.passFinished());
  EXPECT_EQ(transport.started.size(), 10u);
  EXPECT_EQ(e.find("j3")->last_result, api::PollResultKind::kHttpError);
  clock.advance(1h);
  e.step();
  EXPECT_EQ(transport.started.size(), 10u);
}

TEST_F(PollEngineTest, EachJobRemembersWhenItsLastPollFinished) {
  auto& e = make();
  e.addJob({"ok", {}}, /*due_now=*/true);
  e.addJob({"down", {}}, /*due_now=*/true);
  e.addJob({"later", {}});
  EXPECT_EQ(e.find("ok")->last_poll_at, WallTime{});
  e.step();
  clock.advance(250ms);
  const WallTime answered = clock.wallNow();
  answerAll([](const std::string& id) {
    return id == "down" ? jsonResponse(503, "") : jsonResponse(200, body(id, "PROCESSING"));
  });
  EXPECT_EQ(e.find("ok")->last_poll_at, answered);
  EXPECT_EQ(e.find("down")->last_poll_at, answered);  // any result counts
  EXPECT_EQ(e.find("later")->last_poll_at, WallTime{});
}

TEST_F(PollEngineTest, StopStartingLetsInFlightFinish) {
  auto& e = make();
  e.addJob({"a", {}}, true);
  e.addJob({"b", {}}, true);
  e.step();
  e.stopStarting();
  answerAll([](const std::string& id) { return jsonResponse(200, body(id, "queued")); });
  clock.advance(1h);
  e.step();
  EXPECT_EQ(transport.started.size(), 2u);
  EXPECT_EQ(e.inFlight(), 0u);
  EXPECT_EQ(events.changes.size(), 2u);
}

TEST_F(PollEngineTest, UpdatedSettingsApplyFromTheNextPoll) {
  ScheduleSettings s;
  s.interval = 1s;
  s.jitter = 0;
  auto& e = make(s);
  e.addJob({"j", {}}, true);
  run(3500ms, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "queued")); });
  const size_t at_1s = transport.started.size();
  EXPECT_EQ(at_1s, 4u);  // 0, 1, 2, 3 s
  s.interval = 10s;
  s.base_url = "http://127.0.0.1:2";
  e.updateSettings(s);
  run(20s, 100ms, [](const std::string& id) { return jsonResponse(200, body(id, "queued")); });
  EXPECT_EQ(transport.started.size(), at_1s + 2);  // 4 s (already due), then 14 s
  EXPECT_EQ(transport.started.back().url, "http://127.0.0.1:2/jobs/j");
}

TEST_F(PollEngineTest, ANewStatusMapperAppliesToTheNextAnswer) {
  auto& e = make();
  e.addJob({"j", {}}, true);
  e.step();
  answerAll([](const std::string& id) { return jsonResponse(200, body(id, "Review")); });
  EXPECT_EQ(e.find("j")->status, "review");
  e.setStatusMapper(status::StatusMapper({{"review", "processing"}}, {}));
  clock.advance(1h);
  e.step();
  answerAll([](const std::string& id) { return jsonResponse(200, body(id, "Review")); });
  EXPECT_EQ(events.path("j"), (std::vector<std::string>{"review", "processing"}));
}

}  // namespace
}  // namespace jobwatch::scheduler
