// SPDX-License-Identifier: Apache-2.0
// PollEngine's result fetches (SPEC "Results") with a ManualClock, the
// scripted transport and a real results directory: streamed into the file,
// one budget with polls, backoff, give-up, the size cap.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "fake_transport.h"
#include "scheduler/poll_engine.h"
#include "support/temp_dir.h"

namespace jobwatch::scheduler {
namespace {

using namespace std::chrono_literals;
using testing::FakeTransport;
using testing::jsonResponse;

struct ResultEvents final : PollEvents {
  struct Update {
    state::ResultRecord record;
    std::optional<api::ResultFetchKind> fetch;
    bool sent = true;
  };
  std::vector<Update> updates;
  size_t polls = 0;
  void onPollFinished(const PollFinished&) override { ++polls; }
  void onTransition(const StatusTransition&) override {}
  void onResultUpdate(const ResultUpdate& u) override {
    updates.push_back({u.record, u.fetch, u.sent});
  }
};

bool isResult(const api::HttpRequest& r) { return (r.tag & kResultTagBit) != 0; }

class PollEngineResultsTest : public ::testing::Test {
 protected:
  PollEngineResultsTest()
      : log(LogFormat::kText, LogLevel::kDebug, log_text), dir(tmp.path(), 1000) {}

  PollEngine& make(double rate_per_second = 0, Millis give_up = 10s, Millis rate_window = 0ms,
                   const api::ResultDir* results = nullptr) {
    ScheduleSettings s;
    s.base_url = "http://127.0.0.1:1";
    s.interval = 1s;
    s.jitter = 0;
    s.backoff_max = 4s;
    s.rate_per_second = rate_per_second;
    s.rate_window = rate_window;
    engine =
        std::make_unique<PollEngine>(s, status::StatusMapper(), transport, clock, events, log, 42);
    engine->setResults(results != nullptr ? results : &dir, give_up);
    return *engine;
  }

  state::ResultRecord wanted(const std::string& id) {
    state::ResultRecord r;
    r.job_id = id;
    r.since = clock.wallNow();
    r.next_try = clock.wallNow();
    return r;
  }

  // Answers every open result request: 200 streams `body` into the sink.
  void answerResults(long status, const std::string& body = {},
                     std::optional<std::chrono::seconds> retry_after = {}) {
    std::deque<api::HttpRequest> keep;
    for (auto& req : transport.open) {
      if (!isResult(req)) {
        keep.push_back(std::move(req));
        continue;
      }
      api::HttpResponse r = jsonResponse(status, {}, retry_after);
      r.tag = req.tag;
      if (status == 200 && !req.sink->write(body.data(), body.size())) {
        r.outcome = api::TransportOutcome::kSinkRefused;
      }
      transport.ready.push_back(std::move(r));
    }
    transport.open = std::move(keep);
    engine->wait(clock.now());
    engine->step();
  }

  size_t resultRequests() const {
    size_t n = 0;
    for (const auto& r : transport.started) n += isResult(r);
    return n;
  }

  std::string fileText(const std::string& id) {
    std::ifstream in(dir.pathFor(id), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  testing_support::TempDir tmp;
  ManualClock clock;
  FakeTransport transport;
  ResultEvents events;
  std::ostringstream log_text;
  Log log;
  api::ResultDir dir;
  std::unique_ptr<PollEngine> engine;
};

TEST_F(PollEngineResultsTest, AResultIsStreamedToItsFileOnceAndSettledDone) {
  auto& e = make();
  e.fetchResult(wanted("job-1"));
  e.fetchResult(wanted("job-1"));  // wanted again (a second hook): still one fetch
  e.step();
  ASSERT_EQ(transport.open.size(), 1u);
  EXPECT_EQ(transport.open.front().url, "http://127.0.0.1:1/jobs/job-1/result");
  EXPECT_EQ(transport.open.front().max_streamed_bytes, 1000u);
  answerResults(200, R"({"pages":[1,2]})");
  EXPECT_EQ(fileText("job-1"), R"({"pages":[1,2]})");
  ASSERT_EQ(events.updates.size(), 1u);
  EXPECT_EQ(events.updates[0].record.state, state::ResultState::kDone);
  EXPECT_EQ(events.updates[0].record.file, dir.pathFor("job-1").string());
  EXPECT_EQ(events.updates[0].record.attempts, 1);
  EXPECT_EQ(e.resultsPending(), 0u);
  clock.advance(1h);
  e.step();
  EXPECT_EQ(resultRequests(), 1u);
}

TEST_F(PollEngineResultsTest, NotReadyIsRetriedEveryIntervalAndRecorded) {
  auto& e = make();
  e.fetchResult(wanted("job-2"));
  e.step();
  answerResults(409);
  ASSERT_EQ(events.updates.size(), 1u);
  EXPECT_EQ(events.updates[0].record.state, state::ResultState::kPending);
  EXPECT_EQ(events.updates[0].fetch, api::ResultFetchKind::kNotReady);
  EXPECT_EQ(events.updates[0].record.next_try, clock.wallNow() + 1s);
  clock.advance(999ms);
  e.step();
  EXPECT_TRUE(transport.open.empty()) << "not before the interval";
  clock.advance(1ms);
  e.step();
  ASSERT_EQ(transport.open.size(), 1u);
  answerResults(200, "[]");
  EXPECT_EQ(events.updates.back().record.state, state::ResultState::kDone);
  EXPECT_EQ(events.updates.back().record.attempts, 2);
}

TEST_F(PollEngineResultsTest, FailuresBackOffAndAreGivenUpAfterGiveUpAfterWithTheReason) {
  auto& e = make(0, 10s);
  e.fetchResult(wanted("job-3"));
  for (int i = 0; i < 50 && e.resultsPending() > 0; ++i) {
    e.step();
    answerResults(500);
    clock.advance(500ms);
  }
  EXPECT_EQ(e.resultsPending(), 0u);
  const auto& last = events.updates.back();
  EXPECT_EQ(last.record.state, state::ResultState::kGaveUp);
  EXPECT_FALSE(last.fetch.has_value()) << "given up at its deadline, without a request";
  EXPECT_NE(last.record.error.find("HTTP 500"), std::string::npos) << last.record.error;
  // Backoff 1 s, 2 s, 4 s, 4 s ... within 10 s: a handful of requests, not 20.
  EXPECT_GE(resultRequests(), 3u);
  EXPECT_LE(resultRequests(), 6u);
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "no file, no temporary file";
}

TEST_F(PollEngineResultsTest, AResultOverTheCapIsGivenUpAtOnce) {
  auto& e = make();
  e.fetchResult(wanted("job-4"));
  e.step();
  answerResults(200, "[" + std::string(2000, '1') + "]");
  ASSERT_EQ(events.updates.size(), 1u);
  EXPECT_EQ(events.updates[0].record.state, state::ResultState::kGaveUp);
  EXPECT_EQ(events.updates[0].fetch, api::ResultFetchKind::kTooLarge);
  EXPECT_NE(events.updates[0].record.error.find("results.max_size"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
}

TEST_F(PollEngineResultsTest, ResultsAndPollsShareOneTokenBucketAndRetryAfter) {
  auto& e = make(1.0);  // one request per second, both kinds together
  e.addJob({"job-p", {}}, true);
  e.fetchResult(wanted("job-5"));
  e.step();
  ASSERT_EQ(transport.open.size(), 1u) << "one token: one request";
  EXPECT_TRUE(isResult(transport.open.front())) << "results go first";
  answerResults(429, {}, std::chrono::seconds(5));
  clock.advance(2s);
  e.step();
  EXPECT_TRUE(transport.open.empty()) << "a result's Retry-After pauses polls too";
  clock.advance(3s);
  e.step();
  EXPECT_EQ(transport.open.size(), 1u);
}

TEST_F(PollEngineResultsTest, ADroppedResultIsNotFetched) {
  auto& e = make();
  e.fetchResult(wanted("job-6"));
  e.dropResult("job-6");
  e.step();
  EXPECT_TRUE(transport.open.empty());
  EXPECT_EQ(e.resultsPending(), 0u);
}

TEST_F(PollEngineResultsTest, AResultWantedAgainWhileItsDroppedFetchIsInFlightIsSettled) {
  auto& e = make();
  e.fetchResult(wanted("job-7"));
  e.step();
  ASSERT_EQ(transport.open.size(), 1u);
  e.dropResult("job-7");           // released to another instance mid-fetch...
  e.fetchResult(wanted("job-7"));  // ... and adopted back at once
  EXPECT_EQ(e.resultsPending(), 1u);
  answerResults(200, R"({"ok":true})");
  ASSERT_EQ(events.updates.size(), 1u) << "the fetch in flight settles it";
  EXPECT_EQ(events.updates[0].record.state, state::ResultState::kDone);
  EXPECT_EQ(fileText("job-7"), R"({"ok":true})");
  EXPECT_EQ(e.resultsPending(), 0u);
  EXPECT_EQ(resultRequests(), 1u);
}

TEST_F(PollEngineResultsTest, AResultForgottenIsDroppedAndItsFileDeleted) {
  auto& e = make();
  e.fetchResult(wanted("job-8"));
  e.step();
  answerResults(200, "[8]");
  ASSERT_TRUE(std::filesystem::exists(dir.pathFor("job-8")));
  e.forgetResult("job-8");
  EXPECT_FALSE(std::filesystem::exists(dir.pathFor("job-8")));
  e.fetchResult(wanted("job-9"));
  e.step();
  e.forgetResult("job-9");  // in flight: its answer is not committed
  answerResults(200, "[9]");
  EXPECT_FALSE(std::filesystem::exists(dir.pathFor("job-9")));
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path()));
  EXPECT_EQ(e.resultsPending(), 0u);
}

TEST_F(PollEngineResultsTest, ResultFilesThatCannotBeCreatedGiveTheirSlotBackAndPollsGoOn) {
  // results.dir lies under a regular file: every create fails (ENOTDIR), a
  // real file-system fault. 10 requests per 1 s window: before the fix each
  // failure kept its place in the window for good and the account stopped.
  std::ofstream(tmp.path() / "plain-file") << "x";
  const api::ResultDir broken(tmp.path() / "plain-file" / "results", 1000);
  auto& e = make(10.0, 1h, 1s, &broken);
  e.addJob({"job-p", {}}, true);
  for (int i = 0; i < 30; ++i) e.fetchResult(wanted("job-r" + std::to_string(i)));
  size_t polls = 0;
  for (int second = 0; second < 60; ++second) {
    for (int tick = 0; tick < 10; ++tick) {
      e.step();
      transport.answerAll(
          [](const std::string&) { return jsonResponse(200, R"({"status":"processing"})"); });
      e.wait(clock.now());
      clock.advance(100ms);
    }
    polls = events.polls;
  }
  EXPECT_TRUE(transport.open.empty());
  EXPECT_EQ(resultRequests(), 0u) << "no file, no request";
  EXPECT_GE(polls, 50u) << "the job is polled every 1 s interval all along";
  ASSERT_FALSE(events.updates.empty());
  EXPECT_GE(events.updates.size(), 90u) << "every result was tried again and again";
  for (const auto& u : events.updates) {
    EXPECT_EQ(u.fetch, api::ResultFetchKind::kWriteError);
    EXPECT_FALSE(u.sent) << "a failure before sending is no request";
    EXPECT_EQ(u.record.state, state::ResultState::kPending);
  }
  EXPECT_EQ(e.resultsPending(), 30u);
}

}  // namespace
}  // namespace jobwatch::scheduler
