// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL store's schema and its versioned migrations. The version
// is in jobwatch_schema(version); version 1 is the whole schema of the
// SQLite store at version 6 (same tables, columns and meanings, times as
// bigint milliseconds) plus the fleet: instances, jobs.owner and
// hook_runs.owner (lease times are timestamptz, on the database's clock).
// Private to src/state.
//
// Thread-safety: none; callers own the connection.
#pragma once

#include <chrono>

#include "state/postgres_connection.h"
#include "util/result.h"

namespace jobwatch::state::pg_schema {

inline constexpr int kVersion = 1;

// Creates or migrates the schema in one transaction under a database-wide
// advisory lock (whoever comes first migrates; the others wait for it, at
// most `max_wait`: then a runtime error). A newer schema is kBadInput.
[[nodiscard]] Status migrate(pg::Connection& db, std::chrono::milliseconds max_wait);
// The stored version (0: no schema yet), read without writing.
[[nodiscard]] Result<int> readVersion(pg::Connection& db);
// For readers: the schema must be exactly this build's.
[[nodiscard]] Status checkReadable(pg::Connection& db);

}  // namespace jobwatch::state::pg_schema
