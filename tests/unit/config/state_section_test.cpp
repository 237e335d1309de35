// SPDX-License-Identifier: Apache-2.0
// The `state` section's backend keys (SPEC "High availability
// (PostgreSQL)") and reading the PostgreSQL URI from a file, a systemd
// credential or the environment - without ever showing it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <string>

#include "config/config.h"
#include "config/state_url.h"
#include "config_test_support.h"
#include "support/scoped_env.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;
using ScopedEnvVar = testing_support::ScopedEnv;

constexpr const char* kPassword = "s3cret-Pa55word";
const std::string kUri = std::string("postgresql://jobwatch:") + kPassword +
                         "@db.example.com:6432/fleet?sslmode=require";

std::string hostName() {
  std::array<char, 256> name{};
  EXPECT_EQ(::gethostname(name.data(), name.size() - 1), 0);
  return name.data();
}

// --- parsing ------------------------------------------------------------------

TEST(StateBackend, DefaultsAreSqliteWithTheHostNameAndA30sLease) {
  Config none = valid("");
  EXPECT_EQ(none.state.backend, StateBackend::kSqlite);
  EXPECT_FALSE(none.state.url_file);
  EXPECT_FALSE(none.state.url_env);
  EXPECT_EQ(none.state.instance, hostName());
  EXPECT_EQ(none.state.lease, 30s);
  EXPECT_EQ(valid("state:\n  forget_after: 1d\n").state.instance, hostName());
}

TEST(StateBackend, PostgresqlWithEveryKey) {
  Config c = valid(
      "state:\n  backend: postgresql\n  url_file: pg/url\n  instance: node-1.dc_2\n"
      "  lease: 45s\n");
  EXPECT_EQ(c.state.backend, StateBackend::kPostgresql);
  EXPECT_EQ(c.state.url_file, fs::path("/etc/jobwatchd/pg/url"));  // anchored at the config
  EXPECT_FALSE(c.state.url_env);
  EXPECT_EQ(c.state.instance, "node-1.dc_2");
  EXPECT_EQ(c.state.lease, 45s);
  EXPECT_EQ(stateUrlKey(c.state), "state.url_file");

  Config env = valid("state:\n  backend: PostgreSQL\n  url_env: JOBWATCH_PG_URL\n");
  EXPECT_EQ(env.state.backend, StateBackend::kPostgresql);
  EXPECT_EQ(env.state.url_env, "JOBWATCH_PG_URL");
  EXPECT_EQ(env.state.instance, hostName());
  EXPECT_EQ(stateUrlKey(env.state), "state.url_env");

  Config sqlite = valid("state:\n  backend: sqlite\n  path: /tmp/s.db\n");
  EXPECT_EQ(sqlite.state.backend, StateBackend::kSqlite);
}

TEST(StateBackend, UrlFileMayBeACredential) {
  Config c = valid("state:\n  backend: postgresql\n  url_file: $CREDENTIALS_DIRECTORY/pg-url\n");
  EXPECT_EQ(c.state.url_file, fs::path("${CREDENTIALS_DIRECTORY}/pg-url"));
  expectOnlyIssue("state:\n  backend: postgresql\n  url_file: ${CREDENTIALS_DIRECTORY}/a/b\n",
                  "state.url_file", 3, "the name of one credential");
}

TEST(StateBackend, UnknownBackendIsNamed) {
  expectOnlyIssue("state:\n  backend: mysql\n", "state.backend", 2,
                  "unknown state backend \"mysql\" (expected sqlite or postgresql)");
}

TEST(StateBackend, PostgresqlNeedsExactlyOneUrlSource) {
  expectOnlyIssue("state:\n  backend: postgresql\n", "state.backend", 2, "set state.url_file");
  expectOnlyIssue("state:\n  backend: postgresql\n  url_file:\n", "state.backend", 2,
                  "state.url_env");
  expectOnlyIssue("state:\n  backend: postgresql\n  url_file: /etc/u\n  url_env: PG_URL\n",
                  "state.url_env", 4, "not both");
}

TEST(StateBackend, UrlKeysAreRefusedWithSqlite) {
  expectOnlyIssue("state:\n  url_file: /etc/jobwatchd/pg\n", "state.url_file", 2,
                  "is for state.backend postgresql");
  expectOnlyIssue("state:\n  backend: sqlite\n  url_env: PG_URL\n", "state.url_env", 3,
                  "is for state.backend postgresql");
}

TEST(StateBackend, PathIsRefusedWithPostgresql) {
  expectOnlyIssue("state:\n  backend: postgresql\n  url_env: PG_URL\n  path: /var/lib/s.db\n",
                  "state.path", 4, "not used with state.backend postgresql");
}

TEST(StateBackend, InstanceAndLeaseWarnWithSqlite) {
  ConfigLoad l = load("state:\n  instance: a\n  lease: 10s\n");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  ASSERT_EQ(l.warnings.size(), 2u);
  EXPECT_EQ(l.warnings[0].key, "state.instance");
  EXPECT_EQ(l.warnings[1].key, "state.lease");
  EXPECT_THAT(l.warnings[1].message, HasSubstr("no effect"));
}

TEST(StateBackend, BadUrlEnvName) {
  expectOnlyIssue("state:\n  backend: postgresql\n  url_env: 1PG-URL\n", "state.url_env", 3,
                  "not a valid environment variable name");
}

TEST(StateBackend, InstanceNamePattern) {
  const std::string head = "state:\n  backend: postgresql\n  url_env: PG\n  instance: ";
  for (const char* good : {"a", "node-1", "Host.example.com", "x_y", "9z"}) {
    EXPECT_EQ(valid(head + good + "\n").state.instance, good);
  }
  EXPECT_EQ(valid(head + std::string(64, 'n') + "\n").state.instance, std::string(64, 'n'));
  for (const char* bad :
       {"\"-lead\"", "\".dot\"", "\"with space\"", "a/b", "caf\xc3\xa9", "a:b", "\"x'y\""}) {
    expectOnlyIssue(head + bad + "\n", "state.instance", 4, "is not a valid instance name");
  }
  expectOnlyIssue(head + std::string(65, 'n') + "\n", "state.instance", 4, "at most 64");
}

TEST(StateBackend, LeaseBounds) {
  const std::string head = "state:\n  backend: postgresql\n  url_env: PG\n  lease: ";
  EXPECT_EQ(valid(head + "3s\n").state.lease, 3s);
  EXPECT_EQ(valid(head + "10m\n").state.lease, 10min);
  expectOnlyIssue(head + "2999ms\n", "state.lease", 4, "must be between 3s and 10m, got");
  expectOnlyIssue(head + "2s\n", "state.lease", 4, "must be between 3s and 10m, got 2s");
  expectOnlyIssue(head + "601s\n", "state.lease", 4, "must be between 3s and 10m");
  expectOnlyIssue(head + "soon\n", "state.lease", 4, "");
}

TEST(StateBackend, ShippedExampleStaysValid) {
  ConfigLoad l = loadConfigFile(fs::path(JOBWATCH_SOURCE_DIR) / "etc" / "jobwatchd.yaml");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_EQ(l.config->state.backend, StateBackend::kSqlite);
}

// --- reading the URI -------------------------------------------------------------

TEST(ReadStateUrl, FromFileTrimmed) {
  TempDir dir;
  StateConfig state;
  state.url_file = dir.write("url", "  " + kUri + "\r\n\n");
  auto uri = readStateUrl(state);
  ASSERT_TRUE(uri.ok()) << uri.error().message;
  EXPECT_EQ(uri.value(), kUri);
}

TEST(ReadStateUrl, FileProblemsNameTheKeyAndFileNeverTheUri) {
  TempDir dir;
  StateConfig state;
  struct Case {
    std::string content;
    std::string says;
  };
  for (const Case& c :
       {Case{" \n", "is empty"}, Case{kUri + "\n" + kUri + "\n", "more than one line"},
        Case{"host=db password=" + std::string(kPassword) + "\n",
             "does not hold a PostgreSQL connection URI"},
        Case{std::string(kMaxStateUrlBytes + 1, 'x'), "too large"}}) {
    SCOPED_TRACE(c.says);
    state.url_file = dir.write("url", c.content);
    auto uri = readStateUrl(state);
    ASSERT_FALSE(uri.ok());
    EXPECT_THAT(uri.error().message, HasSubstr("state.url_file " + state.url_file->string()));
    EXPECT_THAT(uri.error().message, HasSubstr(c.says));
    EXPECT_THAT(uri.error().message, Not(HasSubstr(kPassword)));
  }
  state.url_file = dir.path() / "missing";
  auto missing = readStateUrl(state);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("state.url_file " + state.url_file->string()));
  EXPECT_THAT(missing.error().message, HasSubstr("No such file or directory"));
}

TEST(ReadStateUrl, FromACredential) {
  TempDir dir;
  dir.write("pg-url", kUri + "\n");
  StateConfig state;
  state.url_file = fs::path("${CREDENTIALS_DIRECTORY}/pg-url");
  {
    ScopedEnvVar credentials("CREDENTIALS_DIRECTORY", dir.path().c_str());
    auto uri = readStateUrl(state);
    ASSERT_TRUE(uri.ok()) << uri.error().message;
    EXPECT_EQ(uri.value(), kUri);
  }
  ScopedEnvVar unset("CREDENTIALS_DIRECTORY", nullptr);
  auto uri = readStateUrl(state);
  ASSERT_FALSE(uri.ok());
  EXPECT_THAT(uri.error().message, HasSubstr("state.url_file is ${CREDENTIALS_DIRECTORY}/pg-url"));
  EXPECT_THAT(uri.error().message, HasSubstr("CREDENTIALS_DIRECTORY is not set"));
}

TEST(ReadStateUrl, FromEnvironment) {
  StateConfig state;
  state.url_env = "JOBWATCH_TEST_PG_URL_VAR";
  {
    ScopedEnvVar var("JOBWATCH_TEST_PG_URL_VAR", (kUri + "\n").c_str());
    auto uri = readStateUrl(state);
    ASSERT_TRUE(uri.ok()) << uri.error().message;
    EXPECT_EQ(uri.value(), kUri);
  }
  for (const char* value : {static_cast<const char*>(nullptr), "", "mysql://root@db/x"}) {
    ScopedEnvVar var("JOBWATCH_TEST_PG_URL_VAR", value);
    auto uri = readStateUrl(state);
    ASSERT_FALSE(uri.ok());
    EXPECT_THAT(uri.error().message, HasSubstr("state.url_env"));
    EXPECT_THAT(uri.error().message, HasSubstr("JOBWATCH_TEST_PG_URL_VAR"));
    EXPECT_THAT(uri.error().message, Not(HasSubstr("root@db")));
  }
  ScopedEnvVar two_lines("JOBWATCH_TEST_PG_URL_VAR", (kUri + "\nX").c_str());
  auto uri = readStateUrl(state);
  ASSERT_FALSE(uri.ok());
  EXPECT_THAT(uri.error().message, HasSubstr("more than one line"));
  EXPECT_THAT(uri.error().message, Not(HasSubstr(kPassword)));
}

// --- describing the URI ------------------------------------------------------------

TEST(DescribeStateUrl, HostPortAndDatabaseOnly) {
  EXPECT_EQ(describeStateUrl(kUri), "db.example.com:6432/fleet");
  EXPECT_EQ(describeStateUrl("postgres://db/x"), "db:5432/x");
  EXPECT_EQ(describeStateUrl("postgresql://u@127.0.0.1:5/postgres"), "127.0.0.1:5/postgres");
  EXPECT_EQ(describeStateUrl("postgresql://[::1]:7/d"), "[::1]:7/d");
  EXPECT_EQ(describeStateUrl("postgresql://[::1]/d"), "[::1]:5432/d");
  EXPECT_EQ(describeStateUrl("postgresql://%2Fvar%2Frun%2Fpostgresql/jw"),
            "/var/run/postgresql:5432/jw");
  EXPECT_EQ(describeStateUrl("postgresql:///jw?host=/run/pg&port=5433&password=x"),
            "/run/pg:5433/jw");
  EXPECT_EQ(describeStateUrl("postgresql://"), "local socket:5432");
  EXPECT_EQ(describeStateUrl("postgresql://h?dbname=jw"), "h:5432/jw");
}

TEST(DescribeStateUrl, NeverShowsAPassword) {
  // Unencoded '/', '?' or '@' in a password: whatever libpq makes of it, the
  // description does not show it.
  for (const char* uri : {"postgresql://u:pa/SECRET@h/db", "postgresql://u:pa?SECRET@h/db",
                          "postgresql://u:pa@SECRET@h/db", "postgresql://h/db?password=SECRET",
                          "postgresql://u:SECRET@h:5/db", "postgresql://h/SECRET%20x"}) {
    SCOPED_TRACE(uri);
    EXPECT_THAT(describeStateUrl(uri), Not(HasSubstr("SECRET")));
  }
}

}  // namespace
}  // namespace jobwatch::config
