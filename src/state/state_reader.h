// SPDX-License-Identifier: Apache-2.0
// StateReader: reads the state database without writing it and without the
// daemon's lock (state_lock.h), for the operator's commands: beside a
// running daemon (its control server reads history and the ledger here, on
// a connection of its own, so a read never waits for the writer's mutex;
// WAL readers do not block the writer either) and instead of a stopped one
// (`jobwatchd status` etc. then read the file directly).
//
// The file must be a jobwatchd database at this build's schema version; it
// is never created, migrated or checkpointed from here.
//
// Thread-safety: every method may be called from any thread; one mutex
// serialises them on the connection.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state {

namespace sqlite {
class Connection;
}
class LabelTable;
class JobTable;
class HookLedger;
class JobHistory;

class StateReader {
 public:
  static Result<std::unique_ptr<StateReader>> open(const std::filesystem::path& path);
  ~StateReader();
  StateReader(const StateReader&) = delete;
  StateReader& operator=(const StateReader&) = delete;

  [[nodiscard]] Result<std::vector<StoredJob>> jobs();
  [[nodiscard]] Result<std::vector<TransitionEntry>> transitions(const std::string& job_id);
  // Newest first.
  [[nodiscard]] Result<std::vector<TransitionEntry>> recentTransitions(size_t limit);
  [[nodiscard]] Result<std::vector<HookAttempt>> attempts(const std::string& job_id);
  [[nodiscard]] Result<std::vector<HookRun>> runsForJob(const std::string& job_id);
  // Newest change first, at most `limit`.
  [[nodiscard]] Result<std::vector<HookRun>> runsInState(HookRunState state, size_t limit);
  [[nodiscard]] Result<size_t> countRuns(HookRunState state);

 private:
  StateReader();
  std::mutex mu_;
  std::unique_ptr<sqlite::Connection> db_;  // the tables below are guarded by mu_
  std::unique_ptr<LabelTable> labels_;
  std::unique_ptr<JobTable> jobs_;
  std::unique_ptr<HookLedger> ledger_;
  std::unique_ptr<JobHistory> history_;
};

}  // namespace jobwatch::state
