// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store's test fixture: a database of its own per test on
// the server whose URI the file $JOBWATCH_TEST_PG_URL_FILE holds (ctest's
// `postgres` fixture starts one), created in SetUp and dropped (WITH FORCE)
// in TearDown. No server: the test is skipped, or fails when
// JOBWATCH_NO_SKIP=1 (CI must not pass by skipping).
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "state/postgres_state_store.h"
#include "state/state_store.h"
#include "state_test_support.h"
#include "util/clock.h"

namespace jobwatch::state::testing {

// One libpq connection for the test's own SQL behind the store's back.
class RawPg {
 public:
  explicit RawPg(const std::string& uri) : conn_(PQconnectdb(uri.c_str())) {}
  ~RawPg() { PQfinish(conn_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }
  // Runs `sql`; returns the first row's first column ("" if none).
  std::string scalar(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string out;
    const auto status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      ADD_FAILURE() << "raw SQL failed: " << sql << ": " << PQresultErrorMessage(r);
    } else if (status == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
    return out;
  }
  void exec(const std::string& sql) { (void)scalar(sql); }

 private:
  PGconn* conn_;
};

class PostgresFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* file = std::getenv("JOBWATCH_TEST_PG_URL_FILE");
    const char* no_skip = std::getenv("JOBWATCH_NO_SKIP");
    const bool must = no_skip != nullptr && std::string(no_skip) == "1";
    std::string server;
    if (file != nullptr) std::getline(std::ifstream(file), server);
    std::string why;
    if (server.empty()) {
      why = std::string("no PostgreSQL server URI (JOBWATCH_TEST_PG_URL_FILE=") +
            (file != nullptr ? file : "unset") + ")";
    } else {
      admin_ = std::make_unique<RawPg>(server);
      if (!admin_->ok()) why = "cannot connect to the test server: " + admin_->error();
    }
    if (!why.empty()) {
      admin_.reset();
      if (must) FAIL() << why << " (JOBWATCH_NO_SKIP=1)";
      GTEST_SKIP() << why;
    }
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("jw_") + info->name();
    name.resize(std::min<size_t>(name.size(), 40));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    name += "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    db_name_ = name;
    admin_->exec("CREATE DATABASE " + db_name_);
    uri_ = server.substr(0, server.rfind('/') + 1) + db_name_;
    raw_ = std::make_unique<RawPg>(uri_);
    ASSERT_TRUE(raw_->ok()) << raw_->error();
  }

  void TearDown() override {
    raw_.reset();
    if (admin_ && !db_name_.empty())
      admin_->exec("DROP DATABASE IF EXISTS " + db_name_ + " WITH (FORCE)");
  }

  PostgresOptions options(const std::string& instance,
                          std::chrono::milliseconds lease = std::chrono::seconds(30)) const {
    PostgresOptions o;
    o.uri = uri_;
    o.instance = instance;
    o.lease = lease;
    o.max_wait = std::chrono::seconds(5);
    return o;
  }

  std::unique_ptr<StateStore> open(const std::string& instance = "a",
                                   std::chrono::milliseconds lease = std::chrono::seconds(30)) {
    auto store = openPostgresStore(options(instance, lease), clock_);
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static Status applyOne(StateStore& store, WriteBatch batch) {
    std::vector<WriteBatch> batches;
    batches.push_back(std::move(batch));
    return store.apply(batches);
  }

  // Registers `jobs` and has `store` claim them (a lone member claims all).
  static void adopt(StateStore& store, const std::vector<StoredJob>& jobs) {
    WriteBatch batch;
    batch.registered = jobs;
    ASSERT_TRUE(applyOne(store, batch).ok());
    auto tick = store.fleetTick({});
    ASSERT_TRUE(tick.ok()) << tick.error().message;
  }
  static void adopt(StateStore& store, const std::vector<std::string>& ids) {
    std::vector<StoredJob> jobs;
    for (const auto& id : ids) jobs.push_back(sampleJob(id));
    adopt(store, jobs);
  }

  std::string scalar(const std::string& sql) { return raw_->scalar(sql); }

  ManualClock clock_;
  std::unique_ptr<RawPg> admin_;
  std::unique_ptr<RawPg> raw_;
  std::string db_name_;
  std::string uri_;
};

}  // namespace jobwatch::state::testing
