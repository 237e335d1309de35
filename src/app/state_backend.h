// SPDX-License-Identifier: Apache-2.0
// The state store state.backend chooses (SPEC "High availability
// (PostgreSQL)"): the SQLite file at state.path, guarded by its StateLock
// (one process per file), or the PostgreSQL database whose URI
// state.url_file / state.url_env hold (read here, at open; several
// instances share it, each instance name once: the store's own advisory
// lock). Everything that opens the store or the operator's reader goes
// through here, so `jobwatchd status` and friends read whichever is
// configured. Nothing here logs or returns the URI.
//
// Thread-safety: the functions share no state; the URI is read from the
// process environment (config/state_url.h).
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "state/state_lock.h"
#include "state/state_reader.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

namespace jobwatch::app {

// SQLite: the lock on state.path, to be held (before openStateStore) for as
// long as the store is open; fails when another process holds it. PostgreSQL:
// null (no file to lock).
[[nodiscard]] Result<std::unique_ptr<state::StateLock>> lockStateStore(
    const config::Config& config);

// Opens (and migrates) the store, waiting out a busy database (logged as a
// warning each time). Errors name the file, or the key the URI comes from.
[[nodiscard]] Result<std::unique_ptr<state::StateStore>> openStateStore(
    const config::Config& config, const Clock& clock, Log& log);

// The operator's read-only reader on the same store.
[[nodiscard]] Result<std::unique_ptr<state::StateReader>> openStateReader(
    const config::Config& config);

// `message` with every occurrence of `uri` blanked out: a guard for store
// errors, which should never quote it.
std::string redactStateUrl(std::string message, const std::string& uri);

// The store for people: "the state database /var/lib/jobwatchd/state.db" or
// "the PostgreSQL database db.example.com:5432/jobwatch".
std::string describeStateStore(const config::Config& config);

}  // namespace jobwatch::app
