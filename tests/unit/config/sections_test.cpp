// SPDX-License-Identifier: Apache-2.0
// The values of the api, poll, metrics, logging and shard sections, and the
// checks that span keys.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "config_test_support.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

// --- durations and rates ----------------------------------------------------

TEST(ConfigDurations, AcceptUnitsAndCompounds) {
  Config c = valid("poll:\n  interval: 2500ms\n  give_up_after: 1h30m\n  backoff_max: 1.5m\n");
  EXPECT_EQ(c.poll.interval, 2500ms);
  EXPECT_EQ(c.poll.give_up_after, 90min);
  EXPECT_EQ(c.poll.backoff_max, 90s);
  EXPECT_EQ(valid("state:\n  forget_after: 7d\n").state.forget_after, 168h);
}

TEST(ConfigDurations, BareNumberAsksForAUnit) {
  expectOnlyIssue("poll:\n  interval: 5\n", "poll.interval", 2, "add a unit");
  expectOnlyIssue("api:\n  request_timeout: 10\n", "api.request_timeout", 2, "add a unit");
}

TEST(ConfigDurations, BadDurationsAreErrors) {
  expectOnlyIssue("poll:\n  give_up_after: 2w\n", "poll.give_up_after", 2, "unknown unit");
  expectOnlyIssue("poll:\n  give_up_after: 0s\n", "poll.give_up_after", 2, "greater than 0");
  expectOnlyIssue("api:\n  request_timeout: 0ms\n", "api.request_timeout", 2, "greater than 0");
  expectOnlyIssue("api:\n  connect_timeout: 0s\n", "api.connect_timeout", 2, "greater than 0");
  expectOnlyIssue("state:\n  forget_after: -1d\n", "state.forget_after", 2, "expected a number");
}

TEST(ConfigRateLimit, Formats) {
  EXPECT_DOUBLE_EQ(valid("api:\n  rate_limit: 100/min\n").api.rate_limit.per_second, 100.0 / 60);
  EXPECT_DOUBLE_EQ(valid("api:\n  rate_limit: 2/s\n").api.rate_limit.per_second, 2.0);
  EXPECT_DOUBLE_EQ(valid("api:\n  rate_limit: 0.5/s\n").api.rate_limit.per_second, 0.5);
  EXPECT_DOUBLE_EQ(valid("api:\n  rate_limit: 1.5/min\n").api.rate_limit.per_second, 1.5 / 60);
  Config off = valid("api:\n  rate_limit: 0\n");
  EXPECT_TRUE(off.api.rate_limit.off());
  EXPECT_TRUE(valid("api:\n  rate_limit: \"0\"\n").api.rate_limit.off());
}

TEST(ConfigRateLimit, BadRatesAreErrors) {
  expectOnlyIssue("api:\n  rate_limit: 100\n", "api.rate_limit", 2, "missing unit");
  expectOnlyIssue("api:\n  rate_limit: 100/h\n", "api.rate_limit", 2, "unknown unit");
  expectOnlyIssue("api:\n  rate_limit: -1/s\n", "api.rate_limit", 2, "bad number");
  expectOnlyIssue("api:\n  rate_limit: fast/s\n", "api.rate_limit", 2, "bad number");
  expectOnlyIssue("api:\n  rate_limit: [1]\n", "api.rate_limit", 2, "got a list");
}

// --- ranges -------------------------------------------------------------------

TEST(ConfigRanges, OutOfRangeValuesNameTheKeyAndLine) {
  expectOnlyIssue("poll:\n  jitter: 0.6\n", "poll.jitter", 2, "between 0 and 0.5");
  expectOnlyIssue("poll:\n  jitter: -0.1\n", "poll.jitter", 2, "between 0 and 0.5");
  expectOnlyIssue("poll:\n  not_found_after: 0\n", "poll.not_found_after", 2, "between 1 and");
  expectOnlyIssue("shard:\n  count: 3000000000\n", "shard.count", 2, "too large");
  expectOnlyIssue("api:\n  max_concurrent_requests: 0\n", "api.max_concurrent_requests", 2,
                  "between 1 and 1024");
  expectOnlyIssue("api:\n  max_concurrent_requests: 1025\n", "api.max_concurrent_requests", 2,
                  "between 1 and 1024");
  expectOnlyIssue("hooks:\n  max_concurrent: 257\n", "hooks.max_concurrent", 2,
                  "between 1 and 256");
  expectOnlyIssue("hooks:\n  max_concurrent: 0\n", "hooks.max_concurrent", 2, "between 1 and 256");
  expectOnlyIssue("metrics:\n  per_job_limit: -1\n", "metrics.per_job_limit", 2, "at least 0");
  expectOnlyIssue("shard:\n  count: 0\n", "shard.count", 2, "at least 1");
  expectOnlyIssue("shard:\n  index: -1\n", "shard.index", 2, "at least 0");
}

TEST(ConfigRanges, EdgesAreAccepted) {
  Config c = valid(
      "poll:\n  jitter: 0\n  interval: 0ms\n  backoff_max: 1ms\n"
      "api:\n  base_url: http://127.0.0.1:8080\n  allow_insecure_http: true\n"
      "  max_concurrent_requests: 1024\nhooks:\n  max_concurrent: 256\n");
  EXPECT_EQ(c.poll.interval, 0ms);
  EXPECT_DOUBLE_EQ(c.poll.jitter, 0.0);
  EXPECT_EQ(c.api.max_concurrent_requests, 1024);
  EXPECT_EQ(c.hooks.max_concurrent, 256);
  EXPECT_DOUBLE_EQ(valid("poll:\n  jitter: 0.5\n").poll.jitter, 0.5);
}

TEST(ConfigRanges, BackoffMaxMustCoverTheInterval) {
  expectOnlyIssue("poll:\n  interval: 10s\n  backoff_max: 5s\n", "poll.backoff_max", 3,
                  "must be at least poll.interval (10s)");
  // Against the default backoff_max (5m), the interval is at fault.
  expectOnlyIssue("poll:\n  interval: 10m\n", "poll.interval", 2, "must be at least poll.interval");
}

TEST(ConfigPollStrategy, StrategyMaxIntervalAndOverdue) {
  Config d = valid("poll:\n  interval: 5s\n");
  EXPECT_EQ(d.poll.strategy, PollStrategyName::kAdaptive);
  EXPECT_EQ(d.poll.max_interval, 1h);
  EXPECT_EQ(d.poll.overdue_after.mode, OverdueAfter::Mode::kAuto);
  Config c = valid("poll:\n  strategy: Round_Robin\n  max_interval: 2h\n  overdue_after: 45m\n");
  EXPECT_EQ(c.poll.strategy, PollStrategyName::kRoundRobin);
  EXPECT_EQ(c.poll.max_interval, 2h);
  EXPECT_EQ(c.poll.overdue_after, (OverdueAfter{OverdueAfter::Mode::kFixed, 45min}));
  EXPECT_EQ(valid("poll:\n  overdue_after: off\n").poll.overdue_after.mode,
            OverdueAfter::Mode::kOff);
  expectOnlyIssue("poll:\n  strategy: fastest\n", "poll.strategy", 2, "adaptive or round_robin");
  expectOnlyIssue("poll:\n  overdue_after: soon\n", "poll.overdue_after", 2,
                  "expected auto, off or a duration");
  expectOnlyIssue("poll:\n  max_interval: 7d\n", "poll.max_interval", 2, "less than 7d");
  expectOnlyIssue("poll:\n  interval: 10s\n  max_interval: 5s\n", "poll.max_interval", 3,
                  "at least poll.interval");
}

TEST(ConfigRanges, ShardIndexBelowCount) {
  expectOnlyIssue("shard:\n  index: 3\n  count: 3\n", "shard.index", 2,
                  "less than shard.count (3)");
  expectOnlyIssue("shard:\n  index: 1\n", "shard.index", 2, "less than shard.count (1)");
}

TEST(ConfigWarnings, FastIntervalAgainstRemoteApiIsAWarningOnly) {
  ConfigLoad l = load(
      "api:\n  base_url: https://prod.visionapi.unsiloed.ai\npoll:\n"
      "  interval: 500ms\n  backoff_max: 1s\n");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_EQ(l.config->poll.interval, 500ms);
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0].key, "poll.interval");
  EXPECT_EQ(l.warnings[0].line, 4);
  EXPECT_THAT(l.warnings[0].message, HasSubstr("2s"));
}

TEST(ConfigWarnings, FastIntervalAgainstLoopbackIsQuiet) {
  for (const char* url : {"http://127.0.0.1:8080", "http://localhost:1234", "http://[::1]:80"}) {
    SCOPED_TRACE(url);
    ConfigLoad l = load(std::string("api:\n  base_url: ") + url +
                        "\n  allow_insecure_http: true\npoll:\n  interval: 10ms\n");
    ASSERT_TRUE(l.config.has_value()) << allIssues(l);
    EXPECT_TRUE(l.warnings.empty()) << l.warnings[0].toString();
  }
}

// --- api ----------------------------------------------------------------------

TEST(ConfigBaseUrl, TrailingSlashIsStrippedAndPathKept) {
  EXPECT_EQ(valid("api:\n  base_url: https://api.example.com/\n").api.base_url,
            "https://api.example.com");
  EXPECT_EQ(valid("api:\n  base_url: https://api.example.com:8443/v1/\n").api.base_url,
            "https://api.example.com:8443/v1");
  EXPECT_EQ(valid("api:\n  base_url: HTTPS://api.example.com\n").api.base_url,
            "https://api.example.com");
}

TEST(ConfigBaseUrl, HttpNeedsExplicitOptIn) {
  expectOnlyIssue("api:\n  base_url: http://127.0.0.1:8080\n", "api.base_url", 2,
                  "allow_insecure_http: true");
  // The opt-in may come after the URL.
  Config c = valid("api:\n  base_url: http://127.0.0.1:8080/\n  allow_insecure_http: true\n");
  EXPECT_EQ(c.api.base_url, "http://127.0.0.1:8080");
}

TEST(ConfigBaseUrl, HttpToARemoteHostWarns) {
  ConfigLoad l = load("api:\n  base_url: http://api.example.com\n  allow_insecure_http: true\n");
  ASSERT_TRUE(l.config.has_value());
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0].key, "api.base_url");
  EXPECT_THAT(l.warnings[0].message, HasSubstr("clear text"));
}

TEST(ConfigBaseUrl, RejectsWhatCannotBeAJobPrefix) {
  expectOnlyIssue("api:\n  base_url: ftp://x.example\n", "api.base_url", 2, "https://");
  expectOnlyIssue("api:\n  base_url: api.example.com\n", "api.base_url", 2, "https://");
  expectOnlyIssue("api:\n  base_url: https://x.example/v1?a=b\n", "api.base_url", 2, "query");
  expectOnlyIssue("api:\n  base_url: https://x.example/#frag\n", "api.base_url", 2, "fragment");
  expectOnlyIssue("api:\n  base_url: https://user:pw@x.example\n", "api.base_url", 2, "user info");
  expectOnlyIssue("api:\n  base_url: https://\n", "api.base_url", 2, "missing host");
  expectOnlyIssue("api:\n  base_url: https://x.example:99999\n", "api.base_url", 2, "invalid port");
  expectOnlyIssue("api:\n  base_url: \"https://x.example /v1\"\n", "api.base_url", 2, "spaces");
  expectOnlyIssue("api:\n  base_url: \"\"\n", "api.base_url", 2, "must not be empty");
}

TEST(ConfigApi, KeyHeaderAndEnvNameAreValidated) {
  expectOnlyIssue("api:\n  key_header: \"X API Key\"\n", "api.key_header", 2, "header name");
  expectOnlyIssue("api:\n  key_header: \"X-Key:\"\n", "api.key_header", 2, "header name");
  expectOnlyIssue("api:\n  api_key_env: 1KEY\n", "api.api_key_env", 2, "environment variable");
  expectOnlyIssue("api:\n  api_key_env: MY-KEY\n", "api.api_key_env", 2, "environment variable");
  EXPECT_EQ(valid("api:\n  api_key_env: _MY_KEY2\n").api.api_key_env, "_MY_KEY2");
}

// --- metrics ------------------------------------------------------------------

TEST(ConfigMetrics, ListenForms) {
  for (const char* ok : {"127.0.0.1:9464", "localhost:0", "\"[::1]:65535\"", "127.0.0.2:1"}) {
    SCOPED_TRACE(ok);
    ConfigLoad l = load(std::string("metrics:\n  listen: ") + ok + "\n");
    EXPECT_TRUE(l.config.has_value()) << allIssues(l);
    EXPECT_TRUE(l.warnings.empty());
  }
  for (const char* bad : {"9464", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:http",
                          "example.com:9464", "::1:9464", "\"[::1\"", "\"[zz]:1\"", ":9464"}) {
    SCOPED_TRACE(bad);
    ConfigLoad l = load(std::string("metrics:\n  listen: ") + bad + "\n");
    ASSERT_EQ(l.issues.size(), 1u) << allIssues(l);
    EXPECT_EQ(l.issues[0].key, "metrics.listen");
    EXPECT_EQ(l.issues[0].line, 2);
  }
}

TEST(ConfigMetrics, NonLoopbackListenWarns) {
  ConfigLoad l = load("metrics:\n  listen: 0.0.0.0:9464\n");
  ASSERT_TRUE(l.config.has_value());
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0].key, "metrics.listen");
  EXPECT_EQ(l.warnings[0].line, 2);
}

// --- logging ------------------------------------------------------------------

TEST(ConfigLogging, LevelsAndFormats) {
  EXPECT_EQ(valid("logging:\n  level: trace\n").logging.level, LogLevel::kTrace);
  EXPECT_EQ(valid("logging:\n  level: WARN\n").logging.level, LogLevel::kWarn);
  EXPECT_EQ(valid("logging:\n  level: error\n").logging.level, LogLevel::kError);
  EXPECT_EQ(valid("logging:\n  format: json\n").logging.format, LogFormat::kJson);
  expectOnlyIssue("logging:\n  level: verbose\n", "logging.level", 2, "trace, debug, info");
  expectOnlyIssue("logging:\n  format: xml\n", "logging.format", 2, "text or json");
}

// --- statuses -----------------------------------------------------------------

TEST(ConfigStatuses, AliasesMergeOverBuiltins) {
  Config c = valid("poll:\n  status_aliases:\n    Review: Processing\n    succeeded: failed\n");
  EXPECT_EQ(c.poll.status_aliases,
            (std::map<std::string, std::string>{
                {"succeeded", "failed"}, {"starting", "queued"}, {"review", "processing"}}));
}

TEST(ConfigStatuses, ExtraTerminalIsAUnionWithBuiltins) {
  Config c = valid("poll:\n  extra_terminal_statuses: [Expired, cancelled, rejected]\n");
  EXPECT_EQ(c.poll.extra_terminal_statuses,
            (std::vector<std::string>{"cancelled", "expired", "rejected"}));
  EXPECT_EQ(valid("poll:\n  extra_terminal_statuses: []\n").poll.extra_terminal_statuses,
            std::vector<std::string>{"cancelled"});
}

TEST(ConfigStatuses, BadShapesAreErrors) {
  expectOnlyIssue("poll:\n  status_aliases: [a, b]\n", "poll.status_aliases", 2, "expected a map");
  expectOnlyIssue("poll:\n  status_aliases:\n    review: [a]\n", "poll.status_aliases.review", 3,
                  "got a list");
  expectOnlyIssue("poll:\n  status_aliases:\n    \"in review\": processing\n",
                  "poll.status_aliases.\"in review\"", 3, "not a valid status word");
  expectOnlyIssue("poll:\n  extra_terminal_statuses: cancelled\n", "poll.extra_terminal_statuses",
                  2, "expected a list");
  expectOnlyIssue("poll:\n  extra_terminal_statuses:\n    - ok\n    - \"bad word\"\n",
                  "poll.extra_terminal_statuses[1]", 4, "not a valid status name");
}

}  // namespace
}  // namespace jobwatch::config
