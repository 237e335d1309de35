// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store's schema: created once, kept on reopen, migrated by
// one of several instances starting together, a newer one refused; and
// how open() and checkPostgres() report their errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "postgres_test_support.h"
#include "state/postgres_state_store.h"

namespace jobwatch::state {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::sampleJob;

class PostgresSchemaTest : public testing::PostgresFixture {};

TEST_F(PostgresSchemaTest, AFreshDatabaseGetsTheWholeSchemaAtTheCurrentVersion) {
  auto before = checkPostgres(uri_);
  ASSERT_TRUE(before.ok()) << before.error().message;
  EXPECT_EQ(before->schema_version, 0);
  EXPECT_EQ(before->current_version, 1);
  EXPECT_THAT(before->server_version, ::testing::StartsWith("15"));

  auto store = open("a");
  ASSERT_TRUE(store);
  EXPECT_EQ(scalar("SELECT string_agg(version::text, ',') FROM jobwatch_schema"), "1");
  for (const char* table : {"instances", "jobs", "hook_runs", "forgotten_jobs", "job_labels",
                            "run_labels", "results", "job_transitions", "hook_attempts"}) {
    EXPECT_EQ(scalar(std::string("SELECT to_regclass('") + table + "') IS NOT NULL"), "t") << table;
  }
  EXPECT_EQ(scalar("SELECT data_type FROM information_schema.columns WHERE table_name = "
                   "'instances' AND column_name = 'heartbeat_at'"),
            "timestamp with time zone");
  EXPECT_EQ(scalar("SELECT count(*) FROM information_schema.columns WHERE column_name = 'owner' "
                   "AND table_name IN ('jobs', 'hook_runs')"),
            "2");
  auto after = checkPostgres(uri_);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->schema_version, 1);
}

TEST_F(PostgresSchemaTest, AReopenKeepsTheSchemaAndTheData) {
  {
    auto store = open("a");
    ASSERT_TRUE(store);
    adopt(*store, std::vector<std::string>{"job-1"});
  }
  auto store = open("a");
  ASSERT_TRUE(store);
  EXPECT_EQ(scalar("SELECT count(*) FROM jobwatch_schema"), "1");
  auto jobs = store->loadJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ(jobs->front().id, "job-1");
}

TEST_F(PostgresSchemaTest, InstancesStartingTogetherMigrateOnce) {
  constexpr int kStores = 4;
  std::vector<std::unique_ptr<StateStore>> stores(kStores);
  std::vector<std::string> errors(kStores);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      auto opened = openPostgresStore(options("inst-" + std::to_string(i)), clock_);
      if (opened) {
        stores[i] = std::move(opened).value();
      } else {
        errors[i] = opened.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStores; ++i) EXPECT_TRUE(stores[i]) << errors[i];
  EXPECT_EQ(scalar("SELECT count(*) FROM jobwatch_schema"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM instances"), std::to_string(kStores));
}

TEST_F(PostgresSchemaTest, ANewerSchemaIsRefusedNamingItsVersion) {
  { ASSERT_TRUE(open("a")); }
  scalar("UPDATE jobwatch_schema SET version = 99");
  auto store = openPostgresStore(options("a"), clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().kind, ErrorKind::kBadInput);
  EXPECT_THAT(store.error().message, HasSubstr("version 99"));
  auto check = checkPostgres(uri_);
  ASSERT_FALSE(check.ok());
  EXPECT_THAT(check.error().message, HasSubstr("version 99"));
  auto reader = openPostgresReader(uri_);
  ASSERT_FALSE(reader.ok());
  EXPECT_THAT(reader.error().message, HasSubstr("version 99"));
}

TEST_F(PostgresSchemaTest, ErrorsNameHostAndPortButNeverThePassword) {
  PostgresOptions o = options("a");
  // A closed port (1) on loopback, with a password in the URI.
  o.uri = "postgresql://postgres:s3cret-pw@127.0.0.1:1/jobwatch";
  o.max_wait = 0ms;
  auto store = openPostgresStore(o, clock_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().kind, ErrorKind::kRuntime);
  EXPECT_THAT(store.error().message, HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(store.error().message, Not(HasSubstr("s3cret-pw")));
  auto check = checkPostgres(o.uri);
  ASSERT_FALSE(check.ok());
  EXPECT_THAT(check.error().message, Not(HasSubstr("s3cret-pw")));

  o.uri = "postgresql://postgres:s3cret-pw@127.0.0.1:1/x?nosuchoption=1";
  auto bad = openPostgresStore(o, clock_);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kBadInput);
  EXPECT_THAT(bad.error().message, Not(HasSubstr("s3cret-pw")));
}

TEST_F(PostgresSchemaTest, TheSessionIsNamedJobwatchd) {
  auto store = open("a");
  ASSERT_TRUE(store);
  EXPECT_EQ(scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'jobwatchd' "
                   "AND datname = current_database()"),
            "1");
}

}  // namespace
}  // namespace jobwatch::state
