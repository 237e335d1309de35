// SPDX-License-Identifier: Apache-2.0
// The StateStore in PostgreSQL (SPEC "High availability"): several
// instances on several machines share one database and split its jobs
// (state_store.h: FleetTick). Client: libpq (see postgres_connection.h).
//
// Open: connects (the URI is never logged: errors name host and port
// only), applies the versioned migrations under an advisory lock (whichever
// instance starts first migrates; the others wait), refuses a schema newer
// than this build's, takes the instance's advisory lock (a second live
// process with the same state.instance is refused: a previous incarnation
// of this instance that still holds jobs and hook runs is dead, so they are
// taken over at once), and registers the instance.
//
// A lost connection is a runtime error of the call that met it; the next
// call reconnects (and takes the instance lock again).
//
// Thread-safety: every method may be called from any thread (one mutex on
// one connection).
#pragma once

#include <memory>
#include <string>

#include "state/state_reader.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/result.h"

namespace jobwatch::state {

struct PostgresOptions {
  std::string uri;       // libpq connection URI (never logged)
  std::string instance;  // state.instance: unique within the fleet
  Millis lease{30'000};  // state.lease
  // How long open() waits for the database, the migration lock and the
  // instance lock before giving up (runtime error).
  std::chrono::milliseconds max_wait{30'000};
  // How long one statement may go without an answer before the connection
  // counts as broken (a hung server, a cut network) and is made again.
  std::chrono::milliseconds answer_within{60'000};
  std::function<void(const Error& error, std::chrono::milliseconds retry_in)> on_wait;
};

[[nodiscard]] Result<std::unique_ptr<StateStore>> openPostgresStore(const PostgresOptions& options,
                                                                    const Clock& clock);

// The operator's reads (state_reader.h) on a connection of their own; a
// read without an answer within `answer_within` is a runtime error.
inline constexpr std::chrono::milliseconds kReaderAnswerWithin{10'000};
[[nodiscard]] Result<std::unique_ptr<StateReader>> openPostgresReader(
    const std::string& uri, std::chrono::milliseconds answer_within = kReaderAnswerWithin);

// --check-config: connects and reads the schema version (0: no schema yet,
// created at first start). Not an error: a version this build migrates.
// An error: unreachable, authentication, a newer schema.
struct PostgresCheck {
  std::string server_version;  // e.g. "15.18"
  int schema_version = 0;
  int current_version = 0;  // this build's
};
[[nodiscard]] Result<PostgresCheck> checkPostgres(const std::string& uri);

}  // namespace jobwatch::state
