// SPDX-License-Identifier: Apache-2.0
// Loading a config as a whole: defaults, keys and structure, issue format,
// paths and files. Section values: sections_test.cpp; hooks:
// hooks_section_test.cpp; the API key: api_key_test.cpp.
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

#include "config_test_support.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

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
  EXPECT_EQ(c.control.socket, fs::path("/run/jobwatchd/control.sock"));
  EXPECT_EQ(c.control.group, "");
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
control:
  socket: /srv/ctl.sock
  group: root
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
  EXPECT_EQ(c.control.socket, fs::path("/srv/ctl.sock"));
  EXPECT_EQ(c.control.group, "root");  // it must exist on this machine
}

TEST(ConfigKeys, ControlSocketPathAndGroupAreChecked) {
  expectOnlyIssue("control:\n  socket: /" + std::string(120, 'x') + "\n", "control.socket", 2,
                  "at most 107");
  expectOnlyIssue("control:\n  group: \"wheel; rm\"\n", "control.group", 2, "invalid group name");
  expectOnlyIssue("control:\n  group: jobwatch-no-such-group\n", "control.group", 2,
                  "no group named \"jobwatch-no-such-group\" on this machine");
  expectOnlyIssue("control:\n  sockett: /x\n", "control.sockett", 2, "did you mean `socket`?");
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

}  // namespace
}  // namespace jobwatch::config
