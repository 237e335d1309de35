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
  // C1 controls (UTF-8 C2 80..C2 9F): U+009B is CSI to a terminal, U+0085 NEL.
  EXPECT_EQ(printable("a\xc2\x9b"
                      "31mb\xc2\x85"
                      "c\xc2\x80"),
            "a\\x9b31mb\\x85c\\x80");
  // Other text stays: U+00A0 (C2 A0), U+00E9 (C3 A9), a 3- and a 4-byte one.
  EXPECT_EQ(printable("\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            "\xc2\xa0\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  // Bytes that are not UTF-8 (a raw 0x9b is CSI to an 8-bit terminal, a cut
  // sequence, an overlong form) are escaped byte by byte.
  EXPECT_EQ(printable("a\x9b"
                      "b\xc2"),
            "a\\x9bb\\xc2");
  EXPECT_EQ(printable("\xe2\x82"
                      "c\xc0\x80"),
            "\\xe2\\x82c\\xc0\\x80");
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
