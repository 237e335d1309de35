// SPDX-License-Identifier: Apache-2.0
#include "api/poll_result.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace jobwatch::api {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr const char* kJobId = "b2094b38-e432-44b6-a5d0-67bed07d5de1";

HttpResponse completed(long status, std::string body = {},
                       std::optional<seconds> retry_after = std::nullopt) {
  HttpResponse r;
  r.tag = 9;
  r.outcome = TransportOutcome::kCompleted;
  r.status = status;
  body.reserve(body.size() + 64);
  r.body = std::move(body);
  r.retry_after = retry_after;
  r.elapsed = std::chrono::microseconds(1234);
  return r;
}

std::string jobBody(std::string_view id = kJobId, std::string_view status = "PROCESSING") {
  return R"({"id":")" + std::string(id) + R"(","status":")" + std::string(status) +
         R"(","type":"extraction"})";
}

TEST(ResultLabel, MatchesMetricLabels) {
  EXPECT_EQ(resultLabel(PollResultKind::kOk), "ok");
  EXPECT_EQ(resultLabel(PollResultKind::kHttpError), "http_error");
  EXPECT_EQ(resultLabel(PollResultKind::kTimeout), "timeout");
  EXPECT_EQ(resultLabel(PollResultKind::kNetworkError), "network_error");
  EXPECT_EQ(resultLabel(PollResultKind::kParseError), "parse_error");
  EXPECT_EQ(resultLabel(PollResultKind::kAuthError), "auth_error");
  EXPECT_EQ(resultLabel(PollResultKind::kRateLimited), "rate_limited");
  EXPECT_EQ(resultLabel(PollResultKind::kNotFound), "not_found");
}

struct StatusCase {
  long status;
  bool retry_after;
  PollResultKind kind;
  const char* detail_part;
};

class ClassifyStatus : public ::testing::TestWithParam<StatusCase> {};

TEST_P(ClassifyStatus, MapsStatusToKind) {
  const StatusCase& c = GetParam();
  JobResponseParser parser;
  std::optional<seconds> retry = c.retry_after ? std::optional(seconds(30)) : std::nullopt;
  PollResult r = classifyResponse(completed(c.status, "<html>nope</html>", retry), parser, kJobId);
  EXPECT_EQ(r.kind, c.kind) << "status " << c.status << " got " << resultLabel(r.kind);
  EXPECT_EQ(r.http_status, c.status);
  EXPECT_EQ(r.retry_after, retry);
  EXPECT_EQ(r.elapsed, std::chrono::microseconds(1234));
  EXPECT_FALSE(r.job.has_value());
  EXPECT_TRUE(r.body.empty());
  EXPECT_THAT(r.detail, HasSubstr(c.detail_part));
  // Error bodies are never echoed.
  EXPECT_THAT(r.detail, ::testing::Not(HasSubstr("nope")));
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, ClassifyStatus,
    ::testing::Values(StatusCase{201, false, PollResultKind::kHttpError, "HTTP 201"},
                      StatusCase{204, false, PollResultKind::kHttpError, "HTTP 204"},
                      StatusCase{301, false, PollResultKind::kHttpError, "HTTP 301"},
                      StatusCase{302, false, PollResultKind::kHttpError, "HTTP 302"},
                      StatusCase{302, false, PollResultKind::kHttpError, "redirect"},
                      StatusCase{307, false, PollResultKind::kHttpError, "HTTP 307"},
                      StatusCase{400, false, PollResultKind::kHttpError, "HTTP 400"},
                      StatusCase{401, false, PollResultKind::kAuthError, "HTTP 401"},
                      StatusCase{403, false, PollResultKind::kAuthError, "HTTP 403"},
                      StatusCase{404, false, PollResultKind::kNotFound, "HTTP 404"},
                      StatusCase{410, false, PollResultKind::kHttpError, "HTTP 410"},
                      StatusCase{429, false, PollResultKind::kRateLimited, "HTTP 429"},
                      StatusCase{429, true, PollResultKind::kRateLimited, "HTTP 429"},
                      StatusCase{500, false, PollResultKind::kHttpError, "HTTP 500"},
                      StatusCase{500, true, PollResultKind::kHttpError, "HTTP 500"},
                      StatusCase{502, false, PollResultKind::kHttpError, "HTTP 502"},
                      StatusCase{503, false, PollResultKind::kHttpError, "HTTP 503"},
                      StatusCase{503, true, PollResultKind::kRateLimited, "HTTP 503"},
                      StatusCase{504, false, PollResultKind::kHttpError, "HTTP 504"},
                      StatusCase{0, false, PollResultKind::kHttpError, "HTTP 0"}));

struct OutcomeCase {
  TransportOutcome outcome;
  PollResultKind kind;
  const char* detail;
};

class ClassifyOutcome : public ::testing::TestWithParam<OutcomeCase> {};

TEST_P(ClassifyOutcome, MapsTransportFailures) {
  const OutcomeCase& c = GetParam();
  JobResponseParser parser;
  HttpResponse response;
  response.outcome = c.outcome;
  response.detail = c.detail;
  response.elapsed = std::chrono::microseconds(77);
  response.body = "partial";
  PollResult r = classifyResponse(std::move(response), parser, kJobId);
  EXPECT_EQ(r.kind, c.kind);
  EXPECT_EQ(r.elapsed, std::chrono::microseconds(77));
  EXPECT_TRUE(r.body.empty());
  EXPECT_FALSE(r.job.has_value());
  if (c.outcome == TransportOutcome::kBodyTooLarge) {
    EXPECT_EQ(r.detail, "body over 1 MiB refused");
  } else {
    EXPECT_EQ(r.detail, c.detail);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Outcomes, ClassifyOutcome,
    ::testing::Values(
        OutcomeCase{TransportOutcome::kTimeout, PollResultKind::kTimeout, "Timeout was reached"},
        OutcomeCase{TransportOutcome::kNetworkError, PollResultKind::kNetworkError,
                    "Couldn't connect to server"},
        OutcomeCase{TransportOutcome::kBodyTooLarge, PollResultKind::kNetworkError, ""}));

TEST(Classify, OkParsesJobAndKeepsBodyVerbatim) {
  JobResponseParser parser;
  const std::string body = jobBody();
  PollResult r = classifyResponse(completed(200, body), parser, kJobId);
  ASSERT_EQ(r.kind, PollResultKind::kOk) << r.detail;
  ASSERT_TRUE(r.job.has_value());
  EXPECT_EQ(r.job->status_raw, "PROCESSING");
  EXPECT_EQ(r.job->id, kJobId);
  EXPECT_EQ(r.job->type, "extraction");
  EXPECT_EQ(r.body, body);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_TRUE(r.detail.empty());
}

TEST(Classify, OkWithoutIdInBodyIsAccepted) {
  JobResponseParser parser;
  PollResult r = classifyResponse(completed(200, R"({"status":"queued"})"), parser, kJobId);
  ASSERT_EQ(r.kind, PollResultKind::kOk) << r.detail;
  EXPECT_EQ(r.job->id, std::nullopt);
}

TEST(Classify, JobIdSpellingIsCheckedToo) {
  JobResponseParser parser;
  PollResult r =
      classifyResponse(completed(200, R"({"job_id":"other","status":"queued"})"), parser, kJobId);
  EXPECT_EQ(r.kind, PollResultKind::kParseError);
}

TEST(Classify, BodyForAnotherJobIsAParseError) {
  JobResponseParser parser;
  PollResult r = classifyResponse(completed(200, jobBody("someone-else")), parser, kJobId);
  EXPECT_EQ(r.kind, PollResultKind::kParseError);
  EXPECT_THAT(r.detail, HasSubstr("body is for another job"));
  EXPECT_FALSE(r.job.has_value());
  EXPECT_TRUE(r.body.empty());
}

TEST(Classify, UnusableOkBodyIsAParseError) {
  JobResponseParser parser;
  for (const char* body : {"", "<html></html>", R"({"status":7})", R"({"id":"x")"}) {
    PollResult r = classifyResponse(completed(200, body), parser, kJobId);
    EXPECT_EQ(r.kind, PollResultKind::kParseError) << body;
    EXPECT_FALSE(r.detail.empty());
    EXPECT_EQ(r.http_status, 200);
  }
}

TEST(Classify, OkCopiesRetryAfterAndElapsed) {
  JobResponseParser parser;
  PollResult r = classifyResponse(completed(200, jobBody(), seconds(3)), parser, kJobId);
  ASSERT_EQ(r.kind, PollResultKind::kOk);
  EXPECT_EQ(r.retry_after, seconds(3));
  EXPECT_EQ(r.elapsed, std::chrono::microseconds(1234));
}

TEST(JobUrl, JoinsBaseAndId) {
  EXPECT_EQ(jobUrl("https://prod.visionapi.unsiloed.ai", "abc-1"),
            "https://prod.visionapi.unsiloed.ai/jobs/abc-1");
  EXPECT_EQ(jobUrl("http://127.0.0.1:8080/v1", "x_y"), "http://127.0.0.1:8080/v1/jobs/x_y");
  // Tolerates a trailing slash even though config normally strips it.
  EXPECT_EQ(jobUrl("https://h/", "a"), "https://h/jobs/a");
}

}  // namespace
}  // namespace jobwatch::api
