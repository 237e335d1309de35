// SPDX-License-Identifier: Apache-2.0
#include "api/job_snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace jobwatch::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Bodies as the transport hands them over: with 64 spare bytes of capacity.
std::string padded(std::string text) {
  text.reserve(text.size() + 64);
  return text;
}

class JobResponseParserTest : public ::testing::Test {
 protected:
  Result<JobSnapshot> parse(std::string text) {
    body_ = padded(std::move(text));
    return parser_.parse(body_);
  }
  std::string parseError(std::string text) {
    auto result = parse(std::move(text));
    if (result.ok()) return "<parsed ok>";
    return result.error().message;
  }

  JobResponseParser parser_;
  std::string body_;
};

constexpr const char* kSpecBody =
    R"({"id": "b2094b38-e432-44b6-a5d0-67bed07d5de1", "status": "queued",
 "type": "extraction", "created_at": "2024-01-15T10:30:00.000Z",
 "updated_at": "2024-01-15T10:31:00.000Z", "pdf_name": "financial_report.pdf",
 "pdf_hash": "sha256:abc123...", "user_id": "user_123"})";

TEST_F(JobResponseParserTest, ReadsEverySpecField) {
  auto job = parse(kSpecBody);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->id, "b2094b38-e432-44b6-a5d0-67bed07d5de1");
  EXPECT_EQ(job->status_raw, "queued");
  EXPECT_EQ(job->type, "extraction");
  EXPECT_EQ(job->created_at, "2024-01-15T10:30:00.000Z");
  EXPECT_EQ(job->updated_at, "2024-01-15T10:31:00.000Z");
  EXPECT_EQ(job->pdf_name, "financial_report.pdf");
  EXPECT_EQ(job->pdf_hash, "sha256:abc123...");
  EXPECT_EQ(job->user_id, "user_123");
  EXPECT_EQ(job->error, std::nullopt);
}

TEST_F(JobResponseParserTest, ReadsErrorOfFailedJob) {
  auto job = parse(R"({"id":"j1","status":"FAILED","error":"PDF is encrypted"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "FAILED");
  EXPECT_EQ(job->error, "PDF is encrypted");
}

TEST_F(JobResponseParserTest, KeepsMixedCaseStatusRaw) {
  for (const char* status : {"PROCESSING", "Completed", "queued", "Succeeded"}) {
    auto job = parse(std::string(R"({"status":")") + status + "\"}");
    ASSERT_TRUE(job.ok()) << job.error().message;
    EXPECT_EQ(job->status_raw, status);
  }
}

TEST_F(JobResponseParserTest, AcceptsJobIdForId) {
  auto job = parse(R"({"job_id":"j-7","status":"queued"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->id, "j-7");
}

TEST_F(JobResponseParserTest, PrefersIdOverJobIdInEitherOrder) {
  auto a = parse(R"({"job_id":"other","id":"mine","status":"queued"})");
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->id, "mine");
  auto b = parse(R"({"id":"mine","status":"queued","job_id":"other"})");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->id, "mine");
}

TEST_F(JobResponseParserTest, NullIdFallsBackToJobId) {
  auto job = parse(R"({"id":null,"job_id":"j-8","status":"queued"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->id, "j-8");
}

TEST_F(JobResponseParserTest, OnlyStatusIsRequired) {
  auto job = parse(R"({"status":"queued"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "queued");
  EXPECT_EQ(job->id, std::nullopt);
  EXPECT_EQ(job->type, std::nullopt);
  EXPECT_EQ(job->created_at, std::nullopt);
  EXPECT_EQ(job->updated_at, std::nullopt);
  EXPECT_EQ(job->pdf_name, std::nullopt);
  EXPECT_EQ(job->pdf_hash, std::nullopt);
  EXPECT_EQ(job->user_id, std::nullopt);
  EXPECT_EQ(job->error, std::nullopt);
}

TEST_F(JobResponseParserTest, NullFieldsAreAbsent) {
  auto job = parse(R"({"id":null,"job_id":null,"status":"queued","type":null,"created_at":null,
    "updated_at":null,"pdf_name":null,"pdf_hash":null,"user_id":null,"error":null})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->id, std::nullopt);
  EXPECT_EQ(job->type, std::nullopt);
  EXPECT_EQ(job->created_at, std::nullopt);
  EXPECT_EQ(job->updated_at, std::nullopt);
  EXPECT_EQ(job->pdf_name, std::nullopt);
  EXPECT_EQ(job->pdf_hash, std::nullopt);
  EXPECT_EQ(job->user_id, std::nullopt);
  EXPECT_EQ(job->error, std::nullopt);
}

TEST_F(JobResponseParserTest, IgnoresExtraFieldsOfEveryType) {
  auto job = parse(R"({"progress":{"pages":[1,2,3],"ratio":0.5,"done":false,"x":null},
    "status":"PROCESSING","tags":["a","b"],"n":-1.5e+3,"ok":true,"note":"caf\u00e9","id":"j"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "PROCESSING");
  EXPECT_EQ(job->id, "j");
}

TEST_F(JobResponseParserTest, WrongTypeOfInformationalFieldReadsAsAbsent) {
  auto job = parse(R"({"status":"queued","pdf_name":{},"type":7,"error":["x"],"user_id":true})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->pdf_name, std::nullopt);
  EXPECT_EQ(job->type, std::nullopt);
  EXPECT_EQ(job->error, std::nullopt);
  EXPECT_EQ(job->user_id, std::nullopt);
}

TEST_F(JobResponseParserTest, UnescapesStrings) {
  auto job = parse(R"({"status":"queued","pdf_name":"a \"b\"\\c\u00e9\n.pdf"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->pdf_name, "a \"b\"\\c\xc3\xa9\n.pdf");
}

TEST_F(JobResponseParserTest, MatchesEscapedKeys) {
  auto job = parse(R"({"st\u0061tus":"queued"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "queued");
}

TEST_F(JobResponseParserTest, StatusOfWrongTypeIsAnError) {
  EXPECT_THAT(parseError(R"({"status": 7})"),
              HasSubstr("\"status\" is a number, expected a string"));
  EXPECT_THAT(parseError(R"({"status": {"a":1}})"), HasSubstr("\"status\" is an object"));
  EXPECT_THAT(parseError(R"({"status": ["queued"]})"), HasSubstr("\"status\" is an array"));
  EXPECT_THAT(parseError(R"({"status": true})"), HasSubstr("\"status\" is a boolean"));
}

TEST_F(JobResponseParserTest, MissingOrNullOrEmptyStatusIsAnError) {
  EXPECT_EQ(parseError(R"({"id":"j"})"), "\"status\" is missing");
  EXPECT_EQ(parseError(R"({})"), "\"status\" is missing");
  EXPECT_EQ(parseError(R"({"status":null})"), "\"status\" is null");
  EXPECT_EQ(parseError(R"({"status":""})"), "\"status\" is empty");
}

TEST_F(JobResponseParserTest, NullIdIsFineButNonStringIdIsAnError) {
  EXPECT_TRUE(parse(R"({"id":null,"status":"queued"})").ok());
  EXPECT_THAT(parseError(R"({"id":5,"status":"queued"})"), HasSubstr("\"id\" is a number"));
  EXPECT_THAT(parseError(R"({"job_id":{},"status":"queued"})"),
              HasSubstr("\"job_id\" is an object"));
  // Even when the other spelling would have named the job.
  EXPECT_THAT(parseError(R"({"id":"j","job_id":[1],"status":"queued"})"),
              HasSubstr("\"job_id\" is an array"));
}

TEST_F(JobResponseParserTest, DuplicateKeysLastOneWins) {
  auto job = parse(R"({"status":"queued","id":"a","status":"COMPLETED","id":"b"})");
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "COMPLETED");
  EXPECT_EQ(job->id, "b");
  // Last wins both ways: a good status cannot be replaced by a bad one.
  EXPECT_THAT(parseError(R"({"status":"queued","status":7})"), HasSubstr("\"status\" is a number"));
  EXPECT_TRUE(parse(R"({"status":7,"status":"queued"})").ok());
}

TEST_F(JobResponseParserTest, RejectsTruncatedBodies) {
  const std::string full = kSpecBody;
  // Every proper prefix of a valid document is an error, never a crash.
  for (size_t n = 0; n < full.size(); ++n) {
    auto result = parse(full.substr(0, n));
    EXPECT_FALSE(result.ok()) << "prefix of length " << n << " parsed";
  }
}

TEST_F(JobResponseParserTest, RejectsTrailingContent) {
  EXPECT_FALSE(parse(R"({"status":"queued"}})").ok());
  EXPECT_FALSE(parse(R"({"status":"queued"}{})").ok());
  EXPECT_FALSE(parse(R"({"status":"queued"} x)").ok());
  EXPECT_FALSE(parse(R"({"status":"queued"} "s")").ok());
  EXPECT_TRUE(parse("  {\"status\":\"queued\"}\n  ").ok());
}

TEST_F(JobResponseParserTest, RejectsInvalidJsonInsideIgnoredFields) {
  for (const char* body : {
           R"({"status":"queued","x":tru})",
           R"({"status":"queued","x":nul})",
           R"({"status":"queued","x":01})",
           R"({"status":"queued","x":1.})",
           R"({"status":"queued","x":-})",
           R"({"status":"queued","x":{"a" 1}})",
           R"({"status":"queued","x":[1 2]})",
           R"({"status":"queued","x":[1,2}})",
           R"({"status":"queued","x":"\q"})",
           R"({"status":"queued","pdf_name":{"a":tru}})",
       }) {
    EXPECT_FALSE(parse(body).ok()) << body;
  }
}

TEST_F(JobResponseParserTest, RejectsHtml) {
  std::string message = parseError("<html><body><h1>502 Bad Gateway</h1></body></html>");
  EXPECT_THAT(message, HasSubstr("not JSON"));
  EXPECT_THAT(message, HasSubstr("<html>"));
}

// Regression (tests/integration/test_security.py): a 200 error page that
// repeats the API key must not put it in the log through this message.
TEST_F(JobResponseParserTest, NonJsonBodyErrorNeverQuotesTheBodyText) {
  const std::string key = "sk-test-0123456789abcdef";
  for (const std::string& body : {key + " is not a valid key", "<pre>X-API-Key: " + key + "</pre>",
                                  "<" + key + ">", "<!DOCTYPE html>" + key}) {
    const std::string message = parseError(body);
    EXPECT_THAT(message, HasSubstr("not JSON")) << body;
    EXPECT_THAT(message, HasSubstr(std::to_string(body.size()) + " bytes")) << body;
    EXPECT_THAT(message, Not(HasSubstr("0123456789"))) << body;
  }
  EXPECT_THAT(parseError("<pre>X-API-Key: " + key + "</pre>"), HasSubstr("\"<pre>\""));
  EXPECT_THAT(parseError("<!DOCTYPE html>" + key), HasSubstr("\"<!DOCTYPE\""));
}

TEST_F(JobResponseParserTest, RejectsEmptyBody) {
  EXPECT_EQ(parseError(""), "empty body");
  EXPECT_EQ(parseError("   \n"), "empty body");
}

TEST_F(JobResponseParserTest, RejectsNonObjects) {
  EXPECT_THAT(parseError(R"([{"status":"queued"}])"), HasSubstr("got an array"));
  EXPECT_THAT(parseError(R"("queued")"), HasSubstr("got a string"));
  EXPECT_THAT(parseError("42"), HasSubstr("got a number"));
  EXPECT_THAT(parseError("null"), HasSubstr("got null"));
}

TEST_F(JobResponseParserTest, RejectsInvalidUtf8) {
  EXPECT_THAT(parseError("{\"status\":\"queued\",\"pdf_name\":\"a\xff\"}"), HasSubstr("UTF-8"));
  EXPECT_THAT(parseError("{\"status\":\"qu\xc3\"}"), HasSubstr("UTF-8"));
  // A lone surrogate escape is invalid too.
  EXPECT_FALSE(parse(R"({"status":"q\ud800"})").ok());
}

TEST_F(JobResponseParserTest, RejectsDeeplyNestedExtraFields) {
  const std::string deep(10000, '[');
  const std::string closed(10000, ']');
  EXPECT_THAT(parseError(R"({"status":"queued","x":)" + deep + closed + "}"),
              HasSubstr("nested deeper"));
  EXPECT_FALSE(parse(R"({"status":"queued","x":)" + deep).ok());
  EXPECT_FALSE(parse(R"({"x":)" + deep + closed + R"(,"status":"queued"})").ok());
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += R"({"a":)";
  EXPECT_FALSE(
      parse(R"({"status":"queued","x":)" + objects + "1" + std::string(10000, '}') + "}").ok());
  // Moderate nesting is fine.
  EXPECT_TRUE(
      parse(R"({"status":"queued","x":)" + std::string(100, '[') + std::string(100, ']') + "}")
          .ok());
}

TEST_F(JobResponseParserTest, BoundsFieldLengths) {
  const std::string long_name(64 * 1024 + 1, 'a');
  EXPECT_THAT(parseError(R"({"status":"queued","pdf_name":")" + long_name + "\"}"),
              HasSubstr("\"pdf_name\" is longer than"));
  EXPECT_TRUE(parse(R"({"status":"queued","pdf_name":")" + long_name.substr(1) + "\"}").ok());
  EXPECT_THAT(parseError(R"({"status":")" + std::string(257, 'q') + "\"}"),
              HasSubstr("\"status\" is longer than 256 bytes"));
  // Ignored fields may be long; the body size is capped by the transport.
  EXPECT_TRUE(parse(R"({"status":"queued","blob":")" + long_name + "\"}").ok());
}

TEST_F(JobResponseParserTest, ErrorMessagesAreShortAndPrintable) {
  std::string hostile = "<" + std::string(5000, 'A') + "\x01\x1b[31m\n";
  for (const std::string& body :
       {hostile, std::string(R"({"status":")") + std::string(300, 'B') + "\"}",
        std::string("{\"status\":\"queued\",") + std::string(4000, ' ') + "\xff\"}"}) {
    std::string message = parseError(body);
    EXPECT_LE(message.size(), 200u) << message;
    for (char c : message) {
      auto u = static_cast<unsigned char>(c);
      EXPECT_TRUE(u >= 0x20 && u < 0x7f) << "unprintable byte in: " << message;
    }
    EXPECT_THAT(message, Not(HasSubstr(std::string(65, 'A'))));
  }
}

TEST_F(JobResponseParserTest, ParsesBodyWithoutPaddingByCopying) {
  std::string body = R"({"status":"COMPLETED","id":"no-padding-here","pdf_name":"x.pdf"})";
  body.shrink_to_fit();
  ASSERT_LT(body.capacity(), body.size() + 64);
  auto job = parser_.parse(body);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "COMPLETED");
  EXPECT_EQ(job->id, "no-padding-here");
}

TEST_F(JobResponseParserTest, IgnoresBytesBeyondSizeInPadding) {
  // Leftover bytes in the spare capacity must not be read as JSON.
  std::string body = R"({"status":"queued"})";
  const size_t size = body.size();
  body += R"(,"x":]]]] garbage "unterminated)";
  body.reserve(body.size() + 64);
  body.resize(size);
  auto job = parser_.parse(body);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->status_raw, "queued");
}

TEST_F(JobResponseParserTest, ParserIsReusableAndResultsOutliveNextParse) {
  auto first = parse(R"({"status":"queued","id":"first"})");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(parse("{").ok());
  auto second = parse(R"({"status":"COMPLETED","id":"second"})");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->id, "first");
  EXPECT_EQ(first->status_raw, "queued");
  EXPECT_EQ(second->id, "second");
}

}  // namespace
}  // namespace jobwatch::api
