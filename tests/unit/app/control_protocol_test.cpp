// SPDX-License-Identifier: Apache-2.0
// The control protocol's parser against hostile and malformed requests:
// everything is validated whole, errors say why, nothing half-parsed.
#include "app/control_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "util/json_writer.h"

namespace jobwatch::app {
namespace {

using ::testing::HasSubstr;

std::string errorOf(std::string_view line) {
  auto r = parseRequest(line);
  EXPECT_FALSE(r.ok()) << "accepted: " << line;
  return r.ok() ? "" : r.error().message;
}

TEST(ControlProtocol, EveryCommandRoundTrips) {
  ControlRequest jobs;
  jobs.cmd = ControlCommand::kJobs;
  jobs.statuses = {"failed", "processing"};
  jobs.account = "default";
  jobs.text = true;
  auto parsed = parseRequest(encodeRequest(jobs));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->cmd, ControlCommand::kJobs);
  EXPECT_EQ(parsed->statuses, jobs.statuses);
  EXPECT_EQ(parsed->account, "default");
  EXPECT_TRUE(parsed->text);

  ControlRequest retry;
  retry.cmd = ControlCommand::kRetry;
  retry.ids = {"job-1:completed"};
  parsed = parseRequest(encodeRequest(retry));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->ids, retry.ids);
  EXPECT_FALSE(parsed->text);

  for (const char* line :
       {R"({"v":1,"cmd":"status"})", R"({"v":1,"cmd":"hooks","failed":true})",
        R"({"v":1,"cmd":"show","ids":["a"]})", R"({"v":1,"cmd":"retry","all_failed":true})",
        R"({"v":1,"cmd":"poll","ids":["a","b"]})",
        R"({"cmd":"forget","ids":["a"],"v":1,"format":"json"})"}) {
    EXPECT_TRUE(parseRequest(line).ok()) << line;
  }
}

TEST(ControlProtocol, RejectsWhatIsNotARequest) {
  EXPECT_THAT(errorOf(""), HasSubstr("not valid JSON"));
  EXPECT_THAT(errorOf("{"), HasSubstr("not valid JSON"));
  EXPECT_THAT(errorOf("[1,2]"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(errorOf(R"("status")"), HasSubstr("must be a JSON object"));
  EXPECT_THAT(errorOf(R"({"cmd":"status"})"), HasSubstr("missing \"v\""));
  EXPECT_THAT(errorOf(R"({"v":2,"cmd":"status"})"), HasSubstr("version"));
  EXPECT_THAT(errorOf(R"({"v":"1","cmd":"status"})"), HasSubstr("version"));
  EXPECT_THAT(errorOf(R"({"v":1})"), HasSubstr("missing \"cmd\""));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"shutdown"})"), HasSubstr("unknown command"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":7})"), HasSubstr("must be a string"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"status","v":1})"), HasSubstr("given twice"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"status","format":"html"})"), HasSubstr("format"));
}

TEST(ControlProtocol, RejectsFieldsTheCommandDoesNotTake) {
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"status","ids":["a"]})"), HasSubstr("unknown field"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"jobs","failed":true})"), HasSubstr("unknown field"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"hooks","extra":null})"), HasSubstr("unknown field"));
}

TEST(ControlProtocol, ValidatesIdsStatusesAndArity) {
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"show","ids":["../etc/passwd"]})"),
              HasSubstr("invalid job ID"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"show","ids":["a\u0000b"]})"), HasSubstr("invalid job ID"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"show","ids":[]})"), HasSubstr("exactly one"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"show","ids":["a","b"]})"), HasSubstr("exactly one"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"show","ids":"a"})"), HasSubstr("must be an array"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"poll","ids":[1]})"), HasSubstr("invalid job ID"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"poll"})"), HasSubstr("at least one"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"retry","ids":["job-1"]})"), HasSubstr("event ID"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"retry","ids":["a:b"],"all_failed":true})"),
              HasSubstr("one of the two"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"retry"})"), HasSubstr("one of the two"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"jobs","status":["FAILED; rm -rf"]})"),
              HasSubstr("invalid status word"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"jobs","account":"a b"})"), HasSubstr("account"));
  EXPECT_THAT(errorOf(R"({"v":1,"cmd":"hooks","failed":"yes"})"), HasSubstr("true or false"));
}

TEST(ControlProtocol, BoundsSizeAndCounts) {
  std::string huge =
      R"({"v":1,"cmd":"status","pad":")" + std::string(kMaxRequestBytes, 'x') + "\"}";
  EXPECT_THAT(errorOf(huge), HasSubstr("larger than"));
  std::string many = R"({"v":1,"cmd":"poll","ids":[)";
  for (size_t i = 0; i <= kMaxRequestIds; ++i)
    many += (i ? ",\"j" : "\"j") + std::to_string(i) + "\"";
  many += "]}";
  EXPECT_THAT(errorOf(many), HasSubstr("more than 1000"));
  std::string deep =
      R"({"v":1,"cmd":"status","x":)" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_FALSE(parseRequest(deep).ok());
}

TEST(ControlProtocol, ErrorsQuoteUntrustedTextBounded) {
  const std::string msg = errorOf(R"({"v":1,"cmd":")" + std::string(500, 'A') + "\\u001b[31m\"}");
  EXPECT_LT(msg.size(), 200u);
  EXPECT_EQ(msg.find('\x1b'), std::string::npos);
}

TEST(ControlProtocol, ResponsesRoundTripWithUntrustedText) {
  ControlResponse r;
  r.ok = true;
  r.exit_code = 1;
  r.text = "a\"b\\c\nd\x01 \xff\xfe";
  JsonWriter w;
  w.beginObject().field("name", std::string("<script>\"x\"</script>\x80")).endObject();
  r.data_json = w.take();
  auto back = parseResponse(encodeResponse(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->exit_code, 1);
  EXPECT_EQ(back->text, "a\"b\\c\nd\x01 \xEF\xBF\xBD\xEF\xBF\xBD");  // invalid UTF-8 -> U+FFFD
  EXPECT_EQ(back->data_json, "{\"name\":\"<script>\\\"x\\\"</script>\xEF\xBF\xBD\"}");
  EXPECT_FALSE(parseResponse("garbage").ok());
}

}  // namespace
}  // namespace jobwatch::app
