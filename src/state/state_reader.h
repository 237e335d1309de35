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
// Thread-safety: every method may be called from any thread; each
// implementation serialises them with one mutex on its connection.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state {

// The operator's reads; SQLite's behind open(), PostgreSQL's behind
// openPostgresReader (postgres_state_store.h).
class StateReader {
 public:
  // The SQLite file at `path`.
  static Result<std::unique_ptr<StateReader>> open(const std::filesystem::path& path);
  virtual ~StateReader() = default;
  StateReader(const StateReader&) = delete;
  StateReader& operator=(const StateReader&) = delete;

  [[nodiscard]] virtual Result<std::vector<StoredJob>> jobs() = 0;
  [[nodiscard]] virtual Result<std::vector<TransitionEntry>> transitions(
      const std::string& job_id) = 0;
  // Newest first.
  [[nodiscard]] virtual Result<std::vector<TransitionEntry>> recentTransitions(size_t limit) = 0;
  [[nodiscard]] virtual Result<std::vector<HookAttempt>> attempts(const std::string& job_id) = 0;
  [[nodiscard]] virtual Result<std::vector<HookRun>> runsForJob(const std::string& job_id) = 0;
  // Newest change first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<HookRun>> runsInState(HookRunState state,
                                                                 size_t limit) = 0;
  [[nodiscard]] virtual Result<size_t> countRuns(HookRunState state) = 0;
  // The fleet's instances as recorded (live ones and any not reaped yet,
  // with their last heartbeat); nullopt: not a fleet (SQLite).
  [[nodiscard]] virtual Result<std::optional<std::vector<FleetMember>>> fleet() = 0;

 protected:
  StateReader() = default;
};

}  // namespace jobwatch::state
