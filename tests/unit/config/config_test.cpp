#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <optional>
#include <string>

#include "support/scoped_env.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

const fs::path kSource = "/etc/jobwatchd/jobwatchd.yaml";

ConfigLoad load(const std::string& yaml) { return loadConfigText(yaml, kSource); }

// Loads a config that must be valid; returns it.
Config valid(const std::string& yaml) {
  ConfigLoad l = load(yaml);
  for (const auto& i : l.issues) ADD_FAILURE() << "unexpected issue: " << i.toString();
  if (!l.config) return Config{};
  return *l.config;
}

std::string allIssues(const ConfigLoad& l) {
  std::string out;
  for (const auto& i : l.issues) out += i.toString() + "\n";
  return out;
}

// Expects exactly one problem, at `key` on `line`, whose message contains `text`.
void expectOnlyIssue(const std::string& yaml, const std::string& key, int line,
                     const std::string& text) {
  SCOPED_TRACE(yaml);
  ConfigLoad l = load(yaml);
  EXPECT_FALSE(l.config.has_value());
  ASSERT_EQ(l.issues.size(), 1u) << allIssues(l);
  EXPECT_EQ(l.issues[0].key, key);
  EXPECT_EQ(l.issues[0].line, line);
  EXPECT_EQ(l.issues[0].file, kSource);
  EXPECT_THAT(l.issues[0].message, HasSubstr(text));
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "config_test.XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

// --- defaults ---------------------------------------------------------------

void expectDefaults(const Config& c) {
  EXPECT_EQ(c.api.base_url, "https://prod.visionapi.unsiloed.ai");
  EXPECT_FALSE(c.api.api_key_file.has_value());
  EXPECT_EQ(c.api.api_key_env, "UNSILOED_API_KEY");
  EXPECT_EQ(c.api.key_header, "X-API-Key");
  EXPECT_DOUBLE_EQ(c.api.rate_limit.per_second, 100.0 / 60.0);
  EXPECT_FALSE(c.api.rate_limit.off());
  EXPECT_EQ(c.api.request_timeout, 10s);
  EXPECT_EQ(c.api.connect_timeout, 5s);
  EXPECT_EQ(c.api.max_concurrent_requests, 32);
  EXPECT_FALSE(c.api.allow_insecure_http);

  EXPECT_EQ(c.poll.interval, 5s);
  EXPECT_DOUBLE_EQ(c.poll.jitter, 0.1);
  EXPECT_EQ(c.poll.backoff_max, 5min);
  EXPECT_EQ(c.poll.give_up_after, 24h);
  EXPECT_EQ(c.poll.not_found_after, 3);
  EXPECT_EQ(c.poll.status_aliases, (std::map<std::string, std::string>{{"succeeded", "completed"},
                                                                       {"starting", "queued"}}));
  EXPECT_EQ(c.poll.extra_terminal_statuses, std::vector<std::string>{"cancelled"});

  EXPECT_FALSE(c.watch.file.has_value());
  EXPECT_FALSE(c.watch.drop_dir.has_value());
  EXPECT_EQ(c.state.path, fs::path("/var/lib/jobwatchd/state.db"));
  EXPECT_EQ(c.state.forget_after, 7 * 24h);

  EXPECT_EQ(c.hooks.max_concurrent, 4);
  EXPECT_TRUE(c.hooks.definitions.empty());

  EXPECT_EQ(c.metrics.listen, "127.0.0.1:9464");
  EXPECT_TRUE(c.metrics.per_job_series);
  EXPECT_EQ(c.metrics.per_job_limit, 100000u);

  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
  EXPECT_EQ(c.logging.format, LogFormat::kText);
  EXPECT_EQ(c.shard.index, 0);
  EXPECT_EQ(c.shard.count, 1);
}

TEST(ConfigDefaults, EmptyFileIsAllDefaults) {
  ConfigLoad l = load("");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_TRUE(l.issues.empty());
  EXPECT_TRUE(l.warnings.empty());
  expectDefaults(*l.config);
  EXPECT_EQ(l.config->source, kSource);
}

TEST(ConfigDefaults, CommentsOnlyAndEmptySectionsAreDefaults) {
  expectDefaults(valid("# nothing here\n   # still nothing\n"));
  expectDefaults(valid("---\n"));
  expectDefaults(
      valid("api:\npoll:\n  # interval: 1s\nwatch:\nstate:\nhooks:\n  definitions:\n"
            "metrics:\nlogging:\nshard:\n"));
}

TEST(ConfigDefaults, EveryKeyIsRead) {
  Config c = valid(R"(api:
  base_url: https://api.example.com/v2/
  api_key_file: /run/credentials/jobwatchd.service/api-key
  api_key_env: OTHER_KEY
  key_header: api-key
  rate_limit: 1000/min
  request_timeout: 20s
  connect_timeout: 2s
  max_concurrent_requests: 8
  allow_insecure_http: true
poll:
  interval: 10s
  jitter: 0.25
  backoff_max: 10m
  give_up_after: 2d
  not_found_after: 5
watch:
  file: /srv/jobs.yaml
  drop_dir: /srv/drop
state:
  path: /srv/state.db
  forget_after: 30d
hooks:
  max_concurrent: 16
metrics:
  listen: "[::1]:9100"
  per_job_series: false
  per_job_limit: 0
logging:
  level: debug
  format: json
shard:
  index: 2
  count: 3
)");
  EXPECT_EQ(c.api.base_url, "https://api.example.com/v2");
  EXPECT_EQ(c.api.api_key_file, fs::path("/run/credentials/jobwatchd.service/api-key"));
  EXPECT_EQ(c.api.api_key_env, "OTHER_KEY");
  EXPECT_EQ(c.api.key_header, "api-key");
  EXPECT_DOUBLE_EQ(c.api.rate_limit.per_second, 1000.0 / 60.0);
  EXPECT_EQ(c.api.request_timeout, 20s);
  EXPECT_EQ(c.api.connect_timeout, 2s);
  EXPECT_EQ(c.api.max_concurrent_requests, 8);
  EXPECT_TRUE(c.api.allow_insecure_http);
  EXPECT_EQ(c.poll.interval, 10s);
  EXPECT_DOUBLE_EQ(c.poll.jitter, 0.25);
  EXPECT_EQ(c.poll.backoff_max, 10min);
  EXPECT_EQ(c.poll.give_up_after, 48h);
  EXPECT_EQ(c.poll.not_found_after, 5);
  EXPECT_EQ(c.watch.file, fs::path("/srv/jobs.yaml"));
  EXPECT_EQ(c.watch.drop_dir, fs::path("/srv/drop"));
  EXPECT_EQ(c.state.path, fs::path("/srv/state.db"));
  EXPECT_EQ(c.state.forget_after, 30 * 24h);
  EXPECT_EQ(c.hooks.max_concurrent, 16);
  EXPECT_EQ(c.metrics.listen, "[::1]:9100");
  EXPECT_FALSE(c.metrics.per_job_series);
  EXPECT_EQ(c.metrics.per_job_limit, 0u);
  EXPECT_EQ(c.logging.level, LogLevel::kDebug);
  EXPECT_EQ(c.logging.format, LogFormat::kJson);
  EXPECT_EQ(c.shard.index, 2);
  EXPECT_EQ(c.shard.count, 3);
}

// --- unknown keys, types, structure -----------------------------------------

TEST(ConfigKeys, MisspeltKeyIsNamedWithLineAndSuggestion) {
  expectOnlyIssue("# jobwatchd\npoll:\n  intervall: 5s\n", "poll.intervall", 3,
                  "did you mean `interval`?");
}

TEST(ConfigKeys, MisspeltSectionAndTransposedKeyAreSuggested) {
  expectOnlyIssue("polll:\n  interval: 5s\n", "polll", 1, "did you mean `poll`?");
  expectOnlyIssue("api:\n  base_ulr: https://x.example\n", "api.base_ulr", 2,
                  "did you mean `base_url`?");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: a\n      on: [completed]\n"
      "      command: [/bin/true]\n      timeuot: 5s\n",
      "hooks.definitions[0].timeuot", 6, "did you mean `timeout`?");
}

TEST(ConfigKeys, UnknownKeyWithoutNeighbourListsKnownKeys) {
  expectOnlyIssue("logging:\n  colour: red\n", "logging.colour", 2, "known: level, format");
}

TEST(ConfigKeys, EveryProblemIsReported) {
  ConfigLoad l = load(R"(api:
  max_concurrent_requests: lots
poll:
  intervall: 5s
  jitter: 2
metrics:
  listen: nowhere
logging:
  level: loud
)");
  EXPECT_FALSE(l.config.has_value());
  ASSERT_EQ(l.issues.size(), 5u) << allIssues(l);
  EXPECT_EQ(l.issues[0].key, "api.max_concurrent_requests");
  EXPECT_EQ(l.issues[0].line, 2);
  EXPECT_EQ(l.issues[1].key, "poll.intervall");
  EXPECT_EQ(l.issues[1].line, 4);
  EXPECT_EQ(l.issues[2].key, "poll.jitter");
  EXPECT_EQ(l.issues[2].line, 5);
  EXPECT_EQ(l.issues[3].key, "metrics.listen");
  EXPECT_EQ(l.issues[3].line, 7);
  EXPECT_EQ(l.issues[4].key, "logging.level");
  EXPECT_EQ(l.issues[4].line, 9);
}

TEST(ConfigKeys, WrongTypesNameTheKey) {
  expectOnlyIssue("poll:\n  - interval\n", "poll", 2, "expected a map");
  expectOnlyIssue("api:\n  max_concurrent_requests: [1, 2]\n", "api.max_concurrent_requests", 2,
                  "got a list");
  expectOnlyIssue("api:\n  max_concurrent_requests: many\n", "api.max_concurrent_requests", 2,
                  "expected a whole number");
  expectOnlyIssue("api:\n  max_concurrent_requests: 2.5\n", "api.max_concurrent_requests", 2,
                  "expected a whole number");
  expectOnlyIssue("poll:\n  jitter: lots\n", "poll.jitter", 2, "expected a number");
  expectOnlyIssue("hooks:\n  definitions:\n    name: x\n", "hooks.definitions", 3,
                  "expected a list of hook definitions");
  expectOnlyIssue("metrics:\n  per_job_series: yes\n", "metrics.per_job_series", 2,
                  "expected true or false");
  expectOnlyIssue("state:\n  path: {a: b}\n", "state.path", 2, "got a map");
  expectOnlyIssue("poll:\n  interval:\n", "poll.interval", 2, "has no value");
}

TEST(ConfigKeys, TopLevelMustBeAMap) {
  ConfigLoad list = load("- api\n- poll\n");
  ASSERT_EQ(list.issues.size(), 1u);
  EXPECT_THAT(list.issues[0].message, HasSubstr("top level must be a map"));
  EXPECT_EQ(list.issues[0].line, 1);
  ConfigLoad scalar = load("hello\n");
  ASSERT_EQ(scalar.issues.size(), 1u);
  EXPECT_THAT(scalar.issues[0].message, HasSubstr("top level must be a map"));
}

TEST(ConfigKeys, DuplicateKeysAreErrors) {
  expectOnlyIssue("poll:\n  interval: 5s\n  interval: 6s\n", "poll.interval", 3,
                  "duplicate key (first set on line 2)");
}

TEST(ConfigKeys, YamlSyntaxErrorsNameTheLine) {
  ConfigLoad l = load("poll:\n  interval: 5s\n  jitter: [0.1\n");
  EXPECT_FALSE(l.config.has_value());
  ASSERT_EQ(l.issues.size(), 1u);
  EXPECT_GE(l.issues[0].line, 3);
  EXPECT_THAT(l.issues[0].message, HasSubstr("invalid YAML"));

  ConfigLoad indent = load("poll:\n  interval: 5s\n   jitter: 0.1\n");
  ASSERT_EQ(indent.issues.size(), 1u);
  EXPECT_EQ(indent.issues[0].line, 3);
}

TEST(ConfigKeys, SeveralDocumentsAreRefused) {
  ConfigLoad l = load("poll:\n  interval: 5s\n---\npoll:\n  interval: 6s\n");
  ASSERT_EQ(l.issues.size(), 1u);
  EXPECT_THAT(l.issues[0].message, HasSubstr("expected exactly one"));
}

TEST(ConfigIssueFormat, OmitsUnknownParts) {
  EXPECT_EQ((ConfigIssue{"/etc/x.yaml", 3, "poll.interval", "bad"}).toString(),
            "/etc/x.yaml:3: poll.interval: bad");
  EXPECT_EQ((ConfigIssue{"/etc/x.yaml", 0, "", "cannot open"}).toString(),
            "/etc/x.yaml: cannot open");
  EXPECT_EQ((ConfigIssue{"/etc/x.yaml", 0, "api", "bad"}).toString(), "/etc/x.yaml: api: bad");
  EXPECT_EQ((ConfigIssue{"", 4, "", "bad"}).toString(), "line 4: bad");
  EXPECT_EQ((ConfigIssue{"", 0, "", "bad"}).toString(), "bad");
}

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

// --- hooks --------------------------------------------------------------------

TEST(ConfigHooks, ArgvHook) {
  Config c = valid(R"(hooks:
  definitions:
    - name: notify-done
      on: [Completed, failed]
      types: [extraction]
      command: ["/usr/local/bin/notify-done", "--verbose"]
      timeout: 30s
      retries: 0
    - name: log.it
      on: "*"
      command: [logger, "-t", jobwatchd]
)");
  ASSERT_EQ(c.hooks.definitions.size(), 2u);
  const HookDefinition& h = c.hooks.definitions[0];
  EXPECT_EQ(h.name, "notify-done");
  EXPECT_EQ(h.on, (std::vector<std::string>{"completed", "failed"}));
  EXPECT_EQ(h.types, std::vector<std::string>{"extraction"});
  EXPECT_EQ(h.command, (std::vector<std::string>{"/usr/local/bin/notify-done", "--verbose"}));
  EXPECT_FALSE(h.shell.has_value());
  EXPECT_EQ(h.timeout, 30s);
  EXPECT_EQ(h.retries, 0);
  const HookDefinition& star = c.hooks.definitions[1];
  EXPECT_EQ(star.on, std::vector<std::string>{"*"});
  EXPECT_TRUE(star.types.empty());
  EXPECT_EQ(star.command, (std::vector<std::string>{"logger", "-t", "jobwatchd"}));
  EXPECT_EQ(star.timeout, 60s);
  EXPECT_EQ(star.retries, 3);
}

TEST(ConfigHooks, ShellHookIsAnExplicitOptIn) {
  Config c = valid(
      "hooks:\n  definitions:\n    - name: sh\n      on: [\"*\"]\n"
      "      shell: \"echo $JOBWATCH_JOB_ID >> /tmp/x\"\n");
  ASSERT_EQ(c.hooks.definitions.size(), 1u);
  EXPECT_EQ(c.hooks.definitions[0].shell, "echo $JOBWATCH_JOB_ID >> /tmp/x");
  EXPECT_TRUE(c.hooks.definitions[0].command.empty());
  EXPECT_EQ(c.hooks.definitions[0].on, std::vector<std::string>{"*"});
}

TEST(ConfigHooks, CommandAndShellRules) {
  const std::string head = "hooks:\n  definitions:\n    - name: h\n      on: [completed]\n";
  expectOnlyIssue(head + "      command: [/bin/true]\n      shell: \"true\"\n",
                  "hooks.definitions[0]", 3, "not both");
  expectOnlyIssue(head, "hooks.definitions[0].command", 3, "explicit opt-in");
  expectOnlyIssue(head + "      command: \"/bin/echo hi\"\n", "hooks.definitions[0].command", 5,
                  "shell:");
  expectOnlyIssue(head + "      command: []\n", "hooks.definitions[0].command", 5,
                  "must not be empty");
  expectOnlyIssue(head + "      command:\n        - bin/notify\n",
                  "hooks.definitions[0].command[0]", 6, "absolute path or a bare name");
  expectOnlyIssue(head + "      command: [\"\"]\n", "hooks.definitions[0].command[0]", 5,
                  "must not be empty");
  expectOnlyIssue(head + "      command: [/bin/x, [a]]\n", "hooks.definitions[0].command[1]", 5,
                  "got a list");
  expectOnlyIssue(head + "      shell: \"  \"\n", "hooks.definitions[0].shell", 5,
                  "must not be empty");
}

TEST(ConfigHooks, RequiredFieldsAndNames) {
  expectOnlyIssue("hooks:\n  definitions:\n    - on: [completed]\n      command: [/bin/true]\n",
                  "hooks.definitions[0].name", 3, "needs a `name`");
  expectOnlyIssue("hooks:\n  definitions:\n    - name: x\n      command: [/bin/true]\n",
                  "hooks.definitions[0].on", 3, "needs `on`");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: \"a b\"\n      on: [completed]\n"
      "      command: [/bin/true]\n",
      "hooks.definitions[0].name", 3, "not a valid hook name");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: x\n      on: []\n      command: [/bin/true]\n",
      "hooks.definitions[0].on", 4, "at least one status");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: x\n      on: [\"*\", failed]\n"
      "      command: [/bin/true]\n",
      "hooks.definitions[0].on", 4, "do not combine");
  expectOnlyIssue("hooks:\n  definitions:\n    - just-a-string\n", "hooks.definitions[0]", 3,
                  "expected a hook definition");
}

TEST(ConfigHooks, DuplicateNamesPointAtTheFirst) {
  expectOnlyIssue(R"(hooks:
  definitions:
    - name: a
      on: [completed]
      command: [/bin/true]
    - name: a
      on: [failed]
      command: [/bin/true]
)",
                  "hooks.definitions[1].name", 6, "first defined on line 3");
}

TEST(ConfigHooks, ErrorsInLaterDefinitionsNameIndexAndLine) {
  expectOnlyIssue(R"(hooks:
  definitions:
    - name: a
      on: [completed]
      command: [/bin/true]
    - name: b
      on: [failed]
      command: [/bin/true]
      timeout: 0s
      retries: 100
)",
                  "hooks.definitions[1].timeout", 9, "greater than 0");
  ConfigLoad l = load(
      "hooks:\n  definitions:\n    - name: b\n      on: [failed]\n"
      "      command: [/bin/true]\n      timeout: 5\n      retries: 101\n");
  ASSERT_EQ(l.issues.size(), 2u) << allIssues(l);
  EXPECT_EQ(l.issues[0].key, "hooks.definitions[0].timeout");
  EXPECT_THAT(l.issues[0].message, HasSubstr("add a unit"));
  EXPECT_EQ(l.issues[1].key, "hooks.definitions[0].retries");
  EXPECT_EQ(l.issues[1].line, 7);
  EXPECT_THAT(l.issues[1].message, HasSubstr("between 0 and 100"));
}

TEST(ConfigHooks, UnknownOrAliasedStatusesWarn) {
  ConfigLoad l = load(
      "hooks:\n  definitions:\n    - name: a\n      on:\n        - complted\n"
      "        - succeeded\n        - review\n      command: [/bin/true]\n"
      "poll:\n  extra_terminal_statuses: [review]\n");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  ASSERT_EQ(l.warnings.size(), 2u);
  EXPECT_EQ(l.warnings[0].key, "hooks.definitions[0].on[0]");
  EXPECT_EQ(l.warnings[0].line, 5);
  EXPECT_THAT(l.warnings[0].message, HasSubstr("did you mean `completed`?"));
  EXPECT_EQ(l.warnings[1].key, "hooks.definitions[0].on[1]");
  EXPECT_THAT(l.warnings[1].message, HasSubstr("write `completed`"));
  // Statuses made known by extra_terminal_statuses are fine.
  ConfigLoad quiet = load(
      "hooks:\n  definitions:\n    - name: a\n      on: [cancelled, not_found]\n"
      "      command: [/bin/true]\n");
  EXPECT_TRUE(quiet.warnings.empty());
}

// --- paths --------------------------------------------------------------------

TEST(ConfigPaths, RelativePathsAreAnchoredAtTheConfigDirectory) {
  ConfigLoad l = loadConfigText(R"(api:
  api_key_file: secrets/key
watch:
  file: jobs.yaml
  drop_dir: ../drop
state:
  path: ./state/state.db
)",
                                "/srv/jw/conf/jobwatchd.yaml");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_EQ(l.config->api.api_key_file, fs::path("/srv/jw/conf/secrets/key"));
  EXPECT_EQ(l.config->watch.file, fs::path("/srv/jw/conf/jobs.yaml"));
  EXPECT_EQ(l.config->watch.drop_dir, fs::path("/srv/jw/drop"));
  EXPECT_EQ(l.config->state.path, fs::path("/srv/jw/conf/state/state.db"));
}

TEST(ConfigPaths, AbsolutePathsAreKeptAndEmptyOptionalMeansUnset) {
  Config c = valid("watch:\n  file: /a/jobs.yaml\n  drop_dir:\n");
  EXPECT_EQ(c.watch.file, fs::path("/a/jobs.yaml"));
  EXPECT_FALSE(c.watch.drop_dir.has_value());
  expectOnlyIssue("state:\n  path: \"\"\n", "state.path", 2, "must not be empty");
}

// --- files --------------------------------------------------------------------

// Regression, found by tests/fuzz/watchlist_fuzzer.cpp (the config loader
// used YAML::LoadAll the same way): yaml-cpp 0.7 never returned on this
// input. A bad config on SIGHUP must be an error, not a hung daemon.
TEST(ConfigFile, YamlThatHangsYamlCppLoadAllIsAnIssue) {
  auto loading = std::async(std::launch::async,
                            [] { return load("# comme# commen{\n!, bjo\nnt\n! \njo=b-3 #"); });
  if (loading.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "loadConfigText hangs: aborting before memory runs out\n");
    std::abort();
  }
  ConfigLoad l = loading.get();
  EXPECT_FALSE(l.config.has_value());
  EXPECT_FALSE(l.issues.empty());
}

TEST(ConfigFile, SecondDocumentIsAnIssueOnItsLine) {
  ConfigLoad l = load("api:\n  base_url: https://x.example\n---\napi: {}\n");
  EXPECT_FALSE(l.config.has_value());
  ASSERT_EQ(l.issues.size(), 1u) << allIssues(l);
  EXPECT_EQ(l.issues[0].line, 4);
  EXPECT_THAT(l.issues[0].message, HasSubstr("second YAML document"));
}

TEST(ConfigFile, MissingFileIsOneIssueNamingIt) {
  TempDir dir;
  fs::path missing = dir.path() / "nope.yaml";
  ConfigLoad l = loadConfigFile(missing);
  EXPECT_FALSE(l.config.has_value());
  ASSERT_EQ(l.issues.size(), 1u);
  EXPECT_EQ(l.issues[0].line, 0);
  EXPECT_EQ(l.issues[0].file, missing);
  EXPECT_THAT(l.issues[0].toString(), HasSubstr(missing.string()));
  EXPECT_THAT(l.issues[0].message, HasSubstr("No such file"));
}

TEST(ConfigFile, DirectoryIsRefused) {
  TempDir dir;
  ConfigLoad l = loadConfigFile(dir.path());
  ASSERT_EQ(l.issues.size(), 1u);
  EXPECT_THAT(l.issues[0].message, HasSubstr("not a regular file"));
}

TEST(ConfigFile, LoadsAndResolvesRelativeToItsDirectory) {
  TempDir dir;
  fs::path file = dir.write("etc/jobwatchd.yaml", "watch:\n  file: jobs.yaml\n");
  ConfigLoad l = loadConfigFile(file);
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_EQ(l.config->source, file);
  EXPECT_EQ(l.config->watch.file, dir.path() / "etc" / "jobs.yaml");
}

TEST(ConfigFile, IssuesNameTheFile) {
  TempDir dir;
  fs::path file = dir.write("bad.yaml", "poll:\n  intervall: 5s\n");
  ConfigLoad l = loadConfigFile(file);
  ASSERT_EQ(l.issues.size(), 1u);
  EXPECT_EQ(l.issues[0].toString(),
            file.string() +
                ":2: poll.intervall: unknown key `intervall` in poll (did you mean "
                "`interval`?)");
}

TEST(ConfigFile, ShippedExampleIsValid) {
  fs::path example = fs::path(JOBWATCH_SOURCE_DIR) / "etc" / "jobwatchd.yaml";
  ConfigLoad l = loadConfigFile(example);
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  for (const auto& w : l.warnings) ADD_FAILURE() << "warning: " << w.toString();
  const Config& c = *l.config;
  EXPECT_EQ(c.watch.file, fs::path("/etc/jobwatchd/jobs.yaml"));
  EXPECT_EQ(c.watch.drop_dir, fs::path("/var/lib/jobwatchd/drop"));
  EXPECT_EQ(c.state.path, fs::path("/var/lib/jobwatchd/state.db"));
  ASSERT_EQ(c.hooks.definitions.size(), 1u);
  EXPECT_EQ(c.hooks.definitions[0].command,
            (std::vector<std::string>{"/etc/jobwatchd/hooks/notify-done",
                                      "/var/lib/jobwatchd/notifications"}));
  // Apart from paths and the example hook, the example documents the defaults.
  Config defaults = valid("");
  EXPECT_EQ(c.api.base_url, defaults.api.base_url);
  EXPECT_EQ(c.poll.interval, defaults.poll.interval);
  EXPECT_EQ(c.poll.status_aliases, defaults.poll.status_aliases);
  EXPECT_EQ(c.poll.extra_terminal_statuses, defaults.poll.extra_terminal_statuses);
  EXPECT_EQ(c.metrics.listen, defaults.metrics.listen);
  EXPECT_DOUBLE_EQ(c.api.rate_limit.per_second, defaults.api.rate_limit.per_second);
}

// --- API key --------------------------------------------------------------------

constexpr const char* kSecret = "sk-live-0123456789abcdef";

TEST(ReadApiKey, FromFileTrimmed) {
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("key", std::string(kSecret) + "\r\n\n  ");
  auto key = readApiKey(api);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key.value(), kSecret);
}

TEST(ReadApiKey, FileWinsOverEnvironment) {
  TempDir dir;
  ::setenv("JOBWATCH_TEST_KEY_BOTH", "from-env", 1);
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_BOTH";
  api.api_key_file = dir.write("key", "from-file\n");
  auto key = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_BOTH");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key.value(), "from-file");
}

TEST(ReadApiKey, EmptyOrMissingFileNamesTheFile) {
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("empty", " \n\n");
  auto empty = readApiKey(api);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(empty.error().message, HasSubstr("empty"));

  api.api_key_file = dir.path() / "missing";
  auto missing = readApiKey(api);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(missing.error().message, HasSubstr("No such file or directory"));
}

TEST(ReadApiKey, UnreadableFileNamesTheFileAndErrno) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("key", kSecret);
  fs::permissions(*api.api_key_file, fs::perms::none);
  auto key = readApiKey(api);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(key.error().message, HasSubstr("Permission denied"));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

TEST(ReadApiKey, MultiLineFileIsRefusedWithoutShowingIt) {
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("key", std::string(kSecret) + "\nX-Other: " + kSecret + "\n");
  auto key = readApiKey(api);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

TEST(ReadApiKey, FromEnvironment) {
  ::setenv("JOBWATCH_TEST_KEY_ENV", kSecret, 1);
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_ENV";
  auto key = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_ENV");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key.value(), kSecret);
}

TEST(ReadApiKey, UnsetOrEmptyEnvironmentNamesTheVariable) {
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_UNSET";
  ::unsetenv("JOBWATCH_TEST_KEY_UNSET");
  auto unset = readApiKey(api);
  ASSERT_FALSE(unset.ok());
  EXPECT_THAT(unset.error().message, HasSubstr("JOBWATCH_TEST_KEY_UNSET"));
  EXPECT_THAT(unset.error().message, HasSubstr("api_key_file"));

  ::setenv("JOBWATCH_TEST_KEY_UNSET", "", 1);
  auto empty = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_UNSET");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr("JOBWATCH_TEST_KEY_UNSET"));
}

TEST(ReadApiKey, EnvironmentWithControlCharactersIsRefusedWithoutShowingIt) {
  ::setenv("JOBWATCH_TEST_KEY_CTRL", (std::string(kSecret) + "\r\nInjected: 1").c_str(), 1);
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_CTRL";
  auto key = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_CTRL");
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr("JOBWATCH_TEST_KEY_CTRL"));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

// --- API key as a systemd credential ---------------------------------------

using ScopedEnvVar = testing_support::ScopedEnv;

TEST(ApiKeyCredential, PrefixIsKeptUnresolvedNotAnchoredAtTheConfigDirectory) {
  Config braced = valid("api:\n  api_key_file: ${CREDENTIALS_DIRECTORY}/api-key\n");
  EXPECT_EQ(braced.api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/api-key"));
  // The bare form means the same and is stored in the braced one.
  Config bare = valid("api:\n  api_key_file: $CREDENTIALS_DIRECTORY/api-key\n");
  EXPECT_EQ(bare.api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/api-key"));
  // Anything else stays a path; relative ones are anchored as before.
  Config other = valid("api:\n  api_key_file: keys/$HOME/api-key\n");
  EXPECT_EQ(other.api.api_key_file, fs::path("/etc/jobwatchd/keys/$HOME/api-key"));
}

TEST(ApiKeyCredential, NameMustBeOneCredential) {
  for (const char* name : {"", "..", ".", "sub/api-key", "../../etc/shadow"}) {
    expectOnlyIssue(std::string("api:\n  api_key_file: \"${CREDENTIALS_DIRECTORY}/") + name +
                        "\"\n",
                    "api.api_key_file", 2, "the name of one credential");
  }
}

TEST(ApiKeyCredential, ReadFromTheDirectoryInTheEnvironment) {
  TempDir dir;
  dir.write("api-key", std::string(kSecret) + "\n");
  ScopedEnvVar credentials("CREDENTIALS_DIRECTORY", dir.path().c_str());
  ApiConfig api = valid("api:\n  api_key_file: ${CREDENTIALS_DIRECTORY}/api-key\n").api;
  auto file = resolveApiKeyFile(*api.api_key_file);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file.value(), dir.path() / "api-key");
  auto key = readApiKey(api);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key.value(), kSecret);

  // Errors name the resolved file.
  api.api_key_file = fs::path("${CREDENTIALS_DIRECTORY}/missing");
  auto missing = readApiKey(api);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr((dir.path() / "missing").string()));
}

TEST(ApiKeyCredential, UnsetDirectoryIsAClearErrorNotTheEnvironmentKey) {
  ScopedEnvVar credentials("CREDENTIALS_DIRECTORY", nullptr);
  ScopedEnvVar env_key("UNSILOED_API_KEY", kSecret);
  ApiConfig api;
  api.api_key_file = fs::path("${CREDENTIALS_DIRECTORY}/api-key");
  auto key = readApiKey(api);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr("CREDENTIALS_DIRECTORY is not set"));
  EXPECT_THAT(key.error().message, HasSubstr("${CREDENTIALS_DIRECTORY}/api-key"));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

TEST(ApiKeyCredential, ShippedExampleReadsTheUnitsCredential) {
  // etc/jobwatchd.yaml goes with systemd/jobwatchd.service (LoadCredential=api-key:...).
  ConfigLoad l = loadConfigFile(fs::path(JOBWATCH_SOURCE_DIR) / "etc" / "jobwatchd.yaml");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_EQ(l.config->api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/api-key"));
}

}  // namespace
}  // namespace jobwatch::config
