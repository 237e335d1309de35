// SPDX-License-Identifier: Apache-2.0
#include "state/state_reader.h"

#include <limits>

#include "state/hook_ledger.h"
#include "state/job_history.h"
#include "state/job_table.h"
#include "state/label_table.h"
#include "state/sqlite_db.h"
#include "state/state_schema.h"

namespace jobwatch::state {

StateReader::StateReader() = default;
StateReader::~StateReader() = default;

Result<std::unique_ptr<StateReader>> StateReader::open(const std::filesystem::path& path) {
  auto db = sqlite::Connection::openReadOnly(path);
  if (!db) return db.error();
  std::unique_ptr<StateReader> reader(new StateReader());
  reader->db_ = std::move(db).value();
  sqlite::Connection& conn = *reader->db_;
  if (auto ok = schema::checkReadable(conn); !ok) return ok.error();
  reader->labels_ = std::make_unique<LabelTable>();
  reader->jobs_ = std::make_unique<JobTable>();
  reader->ledger_ = std::make_unique<HookLedger>();
  reader->history_ = std::make_unique<JobHistory>();
  // Preparing write statements on a read-only connection is fine: only
  // running them would fail, and the reader never does.
  if (auto s = reader->labels_->prepare(conn); !s) return s.error();
  if (auto s = reader->jobs_->prepare(conn, *reader->labels_); !s) return s.error();
  if (auto s = reader->ledger_->prepare(conn, *reader->labels_); !s) return s.error();
  if (auto s = reader->history_->prepare(conn); !s) return s.error();
  return reader;
}

Result<std::vector<StoredJob>> StateReader::jobs() {
  std::lock_guard lock(mu_);
  return jobs_->loadAll();
}

Result<std::vector<TransitionEntry>> StateReader::transitions(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return history_->transitions(job_id);
}

Result<std::vector<TransitionEntry>> StateReader::recentTransitions(size_t limit) {
  std::lock_guard lock(mu_);
  return history_->recentTransitions(limit);
}

Result<std::vector<HookAttempt>> StateReader::attempts(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return history_->attempts(job_id);
}

Result<std::vector<HookRun>> StateReader::runsForJob(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return ledger_->forJob(job_id);
}

Result<std::vector<HookRun>> StateReader::runsInState(HookRunState state, size_t limit) {
  std::lock_guard lock(mu_);
  constexpr auto kMax = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  return ledger_->inState(state, static_cast<std::int64_t>(limit < kMax ? limit : kMax));
}

Result<size_t> StateReader::countRuns(HookRunState state) {
  std::lock_guard lock(mu_);
  return ledger_->count(state);
}

}  // namespace jobwatch::state
