// SPDX-License-Identifier: Apache-2.0
// The state database's schema: telling our file from any other, creating
// it, and migrating older versions of it forward. Private to src/state.
//
// A file that is not a jobwatchd database, is corrupt, or has a schema
// newer than this build is refused with an error naming the file
// (ErrorKind::kBadInput) and is left exactly as it was: until the file is
// known to be ours nothing is written (no WAL switch, no checkpoint on
// close). A busy, locked or failing database is ErrorKind::kRuntime.
//
// Versions (PRAGMA user_version):
//   1  labels as a JSON object of strings in jobs.labels and hook_runs.labels
//   2  labels in the tables job_labels and run_labels (any bytes, no codec)
//   3  results (one row per job whose result is wanted) and
//      hook_runs.with_result
//   4  per-job history: job_transitions and hook_attempts
//   5  jobs.overdue: the job raised the `overdue` event (once per job)
//   6  jobs.account and hook_runs.account (SPEC "Accounts"; older rows
//      become 'default')
//
// Thread-safety: none; called once per connection, by its owner.
#pragma once

#include <cstdint>

#include "state/sqlite_db.h"
#include "util/result.h"

namespace jobwatch::state::schema {

// PRAGMA application_id: "JWch" (`file state.db` shows it too).
constexpr std::int64_t kApplicationId = 0x4A576368;
// PRAGMA user_version this build writes. Bump with a migration.
constexpr std::int64_t kVersion = 6;

// Checks the file, switches to WAL with synchronous=FULL, then creates the
// schema (empty file) or migrates it to kVersion.
[[nodiscard]] Status prepare(sqlite::Connection& db);

// For a read-only connection (StateReader): the file must be ours and at
// exactly kVersion (an older one is migrated by the daemon's next start);
// nothing is written.
[[nodiscard]] Status checkReadable(sqlite::Connection& db);

}  // namespace jobwatch::state::schema
