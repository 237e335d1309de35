// SPDX-License-Identifier: Apache-2.0
// The operator's reads (StateReader) from PostgreSQL, on a connection of
// their own; they never write, nor take part in the fleet.
#include <limits>
#include <mutex>
#include <utility>

#include "state/postgres_connection.h"
#include "state/postgres_queries.h"
#include "state/postgres_schema.h"
#include "state/postgres_state_store.h"

namespace jobwatch::state {
namespace {

class PostgresStateReader final : public StateReader {
 public:
  explicit PostgresStateReader(std::unique_ptr<pg::Connection> db) : db_(std::move(db)) {}

  Result<std::vector<StoredJob>> jobs() override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    return pg_queries::selectJobs(*db_, "true", {});
  }
  Result<std::vector<TransitionEntry>> transitions(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    return pg_queries::transitions(*db_, job_id);
  }
  Result<std::vector<TransitionEntry>> recentTransitions(size_t limit) override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    return pg_queries::recentTransitions(*db_, limit);
  }
  Result<std::vector<HookAttempt>> attempts(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    return pg_queries::attempts(*db_, job_id);
  }
  Result<std::vector<HookRun>> runsForJob(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    return pg_queries::selectRuns(*db_, "r.job_id = $1", {job_id}, "r.run_id");
  }
  Result<std::vector<HookRun>> runsInState(HookRunState state, size_t limit) override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    constexpr auto kMax = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
    return pg_queries::selectRuns(
        *db_, "r.state = $1", {pg::param(pg_queries::runStateCode(state))},
        "r.updated_ms DESC, r.run_id DESC", static_cast<std::int64_t>(limit < kMax ? limit : kMax));
  }
  Result<size_t> countRuns(HookRunState state) override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    return pg_queries::countRuns(*db_, state);
  }
  Result<std::optional<std::vector<FleetMember>>> fleet() override {
    std::lock_guard lock(mu_);
    if (auto s = session(); !s) return s.error();
    auto members = pg_queries::members(*db_, "");
    if (!members) return members.error();
    return std::optional<std::vector<FleetMember>>(std::move(members).value());
  }

 private:
  Status session() {
    auto connected = db_->ensureConnected();
    if (!connected) return connected.error();
    return Ok{};
  }

  std::mutex mu_;
  std::unique_ptr<pg::Connection> db_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<StateReader>> openPostgresReader(const std::string& uri,
                                                        std::chrono::milliseconds answer_within) {
  auto db = pg::Connection::open(uri, answer_within);
  if (!db) return db.error();
  if (auto ok = pg_schema::checkReadable(**db); !ok) return ok.error();
  return std::unique_ptr<StateReader>(new PostgresStateReader(std::move(db).value()));
}

}  // namespace jobwatch::state
