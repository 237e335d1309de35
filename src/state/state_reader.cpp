// SPDX-License-Identifier: Apache-2.0
#include "state/state_reader.h"

#include <limits>
#include <mutex>

#include "state/hook_ledger.h"
#include "state/job_history.h"
#include "state/job_table.h"
#include "state/label_table.h"
#include "state/sqlite_db.h"
#include "state/state_schema.h"

namespace jobwatch::state {
namespace {

// The SQLite reader: a read-only connection with the tables' statements.
class SqliteStateReader final : public StateReader {
 public:
  static Result<std::unique_ptr<StateReader>> open(const std::filesystem::path& path);

  Result<std::vector<StoredJob>> jobs() override;
  Result<std::vector<TransitionEntry>> transitions(const std::string& job_id) override;
  Result<std::vector<TransitionEntry>> recentTransitions(size_t limit) override;
  Result<std::vector<HookAttempt>> attempts(const std::string& job_id) override;
  Result<std::vector<HookRun>> runsForJob(const std::string& job_id) override;
  Result<std::vector<HookRun>> runsInState(HookRunState state, size_t limit) override;
  Result<size_t> countRuns(HookRunState state) override;
  Result<std::optional<std::vector<FleetMember>>> fleet() override {
    return std::optional<std::vector<FleetMember>>();
  }

 private:
  std::mutex mu_;
  std::unique_ptr<sqlite::Connection> db_;  // the tables below are guarded by mu_
  LabelTable labels_;
  JobTable jobs_;
  HookLedger ledger_;
  JobHistory history_;
};

}  // namespace

Result<std::unique_ptr<StateReader>> StateReader::open(const std::filesystem::path& path) {
  return SqliteStateReader::open(path);
}

Result<std::unique_ptr<StateReader>> SqliteStateReader::open(const std::filesystem::path& path) {
  auto db = sqlite::Connection::openReadOnly(path);
  if (!db) return db.error();
  std::unique_ptr<SqliteStateReader> reader(new SqliteStateReader());
  reader->db_ = std::move(db).value();
  sqlite::Connection& conn = *reader->db_;
  if (auto ok = schema::checkReadable(conn); !ok) return ok.error();
  // Preparing write statements on a read-only connection is fine: only
  // running them would fail, and the reader never does.
  if (auto s = reader->labels_.prepare(conn); !s) return s.error();
  if (auto s = reader->jobs_.prepare(conn, reader->labels_); !s) return s.error();
  if (auto s = reader->ledger_.prepare(conn, reader->labels_); !s) return s.error();
  if (auto s = reader->history_.prepare(conn); !s) return s.error();
  return std::unique_ptr<StateReader>(std::move(reader));
}

Result<std::vector<StoredJob>> SqliteStateReader::jobs() {
  std::lock_guard lock(mu_);
  return jobs_.loadAll();
}

Result<std::vector<TransitionEntry>> SqliteStateReader::transitions(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return history_.transitions(job_id);
}

Result<std::vector<TransitionEntry>> SqliteStateReader::recentTransitions(size_t limit) {
  std::lock_guard lock(mu_);
  return history_.recentTransitions(limit);
}

Result<std::vector<HookAttempt>> SqliteStateReader::attempts(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return history_.attempts(job_id);
}

Result<std::vector<HookRun>> SqliteStateReader::runsForJob(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return ledger_.forJob(job_id);
}

Result<std::vector<HookRun>> SqliteStateReader::runsInState(HookRunState state, size_t limit) {
  std::lock_guard lock(mu_);
  constexpr auto kMax = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  return ledger_.inState(state, static_cast<std::int64_t>(limit < kMax ? limit : kMax));
}

Result<size_t> SqliteStateReader::countRuns(HookRunState state) {
  std::lock_guard lock(mu_);
  return ledger_.count(state);
}

}  // namespace jobwatch::state
