// SPDX-License-Identifier: Apache-2.0
// Reads of the PostgreSQL store's tables into the store's values, shared
// by PostgresStateStore and the PostgreSQL StateReader, and the stored
// codes they use (the same as SQLite's: stored_codes.h). Private to
// src/state.
//
// Thread-safety: none; callers own the connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "state/postgres_connection.h"
#include "state/state_store.h"
#include "util/result.h"

namespace jobwatch::state::pg_queries {

// The database's now() in milliseconds, and the lease test of an instance
// row `alias` with the lease in milliseconds as parameter `lease_param`.
inline constexpr const char* kDbNowMs = "(extract(epoch FROM now()) * 1000)::bigint";
std::string liveInstance(const std::string& alias, int lease_param);

std::int64_t runStateCode(HookRunState state);

// Jobs matching `where` (on alias j), with their labels, by ID.
[[nodiscard]] Result<std::vector<StoredJob>> selectJobs(pg::Connection& db,
                                                        const std::string& where,
                                                        const pg::Params& params);
// Rows of hook_runs matching `where` (plain column names), with labels and
// their job's result, in `order` (column names prefixed r.), at most
// `limit` rows (-1: all).
[[nodiscard]] Result<std::vector<HookRun>> selectRuns(pg::Connection& db, const std::string& where,
                                                      const pg::Params& params,
                                                      const std::string& order,
                                                      std::int64_t limit = -1);
// Results matching `where` (on alias r), with their job's account.
[[nodiscard]] Result<std::vector<ResultRecord>> selectResults(pg::Connection& db,
                                                              const std::string& where,
                                                              const pg::Params& params);
[[nodiscard]] Result<std::vector<TransitionEntry>> transitions(pg::Connection& db,
                                                               const std::string& job_id);
[[nodiscard]] Result<std::vector<TransitionEntry>> recentTransitions(pg::Connection& db,
                                                                     size_t limit);
[[nodiscard]] Result<std::vector<HookAttempt>> attempts(pg::Connection& db,
                                                        const std::string& job_id);
[[nodiscard]] Result<size_t> countRuns(pg::Connection& db, HookRunState state);
// Every instance row (live or not reaped yet) with the jobs it holds, by
// name; `self` marks the incarnation given ("": none).
[[nodiscard]] Result<std::vector<FleetMember>> members(pg::Connection& db, const std::string& self);

}  // namespace jobwatch::state::pg_queries
