// SPDX-License-Identifier: Apache-2.0
// What the operator sees: requests counted over a sliding minute, API
// health and the status vocabulary, and untrusted text kept harmless in
// tables and JSON.
#include <gtest/gtest.h>

#include "app/operator_feed.h"
#include "app/operator_json.h"
#include "app/operator_text.h"

namespace jobwatch::app {
namespace {

using namespace std::chrono_literals;

TEST(OperatorFeed, CountsRequestsOfTheLastMinuteAndTheLastSuccess) {
  ManualClock clock;
  OperatorFeed feed(clock, {});
  scheduler::JobRecord job;
  job.id = "a";
  auto poll = [&](api::PollResultKind kind) {
    feed.onPollFinished(scheduler::PollFinished{job, kind, 200, 1ms, ""});
  };
  EXPECT_EQ(feed.requestsLastMinute(), 0u);
  EXPECT_FALSE(feed.lastSuccess().has_value());
  EXPECT_FALSE(feed.polled());
  poll(api::PollResultKind::kOk);
  EXPECT_TRUE(feed.polled());
  const WallTime first_ok = clock.wallNow();
  clock.advance(30s);
  poll(api::PollResultKind::kNetworkError);
  poll(api::PollResultKind::kNetworkError);
  EXPECT_EQ(feed.requestsLastMinute(), 3u);
  EXPECT_EQ(feed.lastSuccess(), first_ok) << "a failed poll is not a success";
  clock.advance(31s);
  EXPECT_EQ(feed.requestsLastMinute(), 2u) << "the first is older than a minute";
  clock.advance(10min);
  EXPECT_EQ(feed.requestsLastMinute(), 0u);
}

TEST(OperatorFeed, KeepsTheStatusVocabularyAcrossReloads) {
  ManualClock clock;
  OperatorFeed feed(clock, {"queued", "completed"});
  EXPECT_EQ(feed.knownStatuses(), (std::vector<std::string>{"queued", "completed"}));
  feed.setKnownStatuses({"x"});
  EXPECT_EQ(feed.knownStatuses(), std::vector<std::string>{"x"});
}

TEST(OperatorText, EscapesControlCharactersAndCutsLongText) {
  EXPECT_EQ(printable("a\x1b[31mb\n"), "a\\x1b[31mb\\x0a");
  EXPECT_EQ(printable(std::string(100, 'x'), 10), "xxxxxxx...");
  EXPECT_EQ(shortAge(1500ms), "1s");
  EXPECT_EQ(shortAge(3h + 5min), "3h5m");
  JobsReport report;
  report.now = WallTime(std::chrono::seconds(1'800'000'100));
  JobRow row;
  row.id = "a";
  row.status = "processing";
  row.pdf_name = "evil\x1b]0;title\x07.pdf";
  row.added_at = WallTime(std::chrono::seconds(1'800'000'000));
  report.jobs.push_back(row);
  const std::string table = toText(report);
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_NE(table.find("evil\\x1b]0;title\\x07.pdf"), std::string::npos);
  EXPECT_NE(table.find("1m40s"), std::string::npos);
  const std::string json = toJson(report);
  EXPECT_NE(json.find(R"("pdf_name":"evil\u001b]0;title\u0007.pdf")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("added_at":"2027-01-15T08:00:00.000Z")"), std::string::npos) << json;
}

}  // namespace
}  // namespace jobwatch::app
