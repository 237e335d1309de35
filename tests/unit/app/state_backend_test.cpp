// SPDX-License-Identifier: Apache-2.0
// Choosing the state store by state.backend: SQLite behind its file lock,
// PostgreSQL behind a URI that no error shows.
#include "app/state_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "support/scoped_env.h"
#include "support/temp_dir.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::app {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr const char* kPassword = "Pw-never-shown-77";

config::Config sqliteConfig(const std::filesystem::path& dir) {
  config::Config config;
  config.state.path = dir / "state.db";
  return config;
}

config::Config postgresConfig() {
  config::Config config;
  config.state.backend = config::StateBackend::kPostgresql;
  config.state.url_env = "JOBWATCH_TEST_STATE_BACKEND_URL";
  config.state.instance = "test-1";
  return config;
}

TEST(StateBackend, SqliteIsLockedOpenedAndRead) {
  testing_support::TempDir dir;
  const config::Config config = sqliteConfig(dir.path());
  std::ostringstream out;
  Log log(LogFormat::kText, LogLevel::kDebug, out);
  ManualClock clock;
  auto lock = lockStateStore(config);
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  ASSERT_NE(lock.value(), nullptr);
  auto second = lockStateStore(config);
  ASSERT_FALSE(second.ok());  // one process per SQLite file
  auto store = openStateStore(config, clock, log);
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store.value()->path(), config.state.path);
  auto reader = openStateReader(config);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(describeStateStore(config), "the state database " + config.state.path.string());
}

TEST(StateBackend, PostgresqlHasNoFileLock) {
  auto lock = lockStateStore(postgresConfig());
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  EXPECT_EQ(lock.value(), nullptr);
}

TEST(StateBackend, PostgresqlWithoutItsUriNamesTheKey) {
  testing_support::ScopedEnv unset("JOBWATCH_TEST_STATE_BACKEND_URL", nullptr);
  const config::Config config = postgresConfig();
  std::ostringstream out;
  Log log(LogFormat::kText, LogLevel::kDebug, out);
  ManualClock clock;
  auto store = openStateStore(config, clock, log);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.error().message, StartsWith("state.url_env: "));
  EXPECT_THAT(store.error().message, HasSubstr("JOBWATCH_TEST_STATE_BACKEND_URL"));
  auto reader = openStateReader(config);
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(reader.error().message, StartsWith("state.url_env: "));
  EXPECT_EQ(describeStateStore(config), "the PostgreSQL database (state.url_env)");
}

TEST(StateBackend, DescribesTheServerWithoutThePassword) {
  const std::string uri =
      std::string("postgresql://jw:") + kPassword + "@db.example.com:6432/fleet";
  testing_support::ScopedEnv set("JOBWATCH_TEST_STATE_BACKEND_URL", uri.c_str());
  const std::string described = describeStateStore(postgresConfig());
  EXPECT_EQ(described, "the PostgreSQL database db.example.com:6432/fleet");
  EXPECT_THAT(described, Not(HasSubstr(kPassword)));
}

TEST(StateBackend, RedactsTheUriFromMessages) {
  const std::string uri = std::string("postgresql://jw:") + kPassword + "@h/db";
  EXPECT_EQ(redactStateUrl("bad " + uri + " and " + uri + ".", uri),
            "bad <state URI> and <state URI>.");
  EXPECT_EQ(redactStateUrl("nothing here", uri), "nothing here");
  EXPECT_EQ(redactStateUrl("x", ""), "x");
}

}  // namespace
}  // namespace jobwatch::app
