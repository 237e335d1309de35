// SPDX-License-Identifier: Apache-2.0
// The PostgreSQL connection URI of state.backend postgresql: where
// state.url_file or state.url_env point, read when the daemon (or a command)
// opens the store, never kept in the config and never shown. The URI holds
// the password, so no message here or built from these functions quotes
// it: errors name the key and the file or variable, and describeStateUrl
// keeps only host, port and database.
//
// state.url_file may name a systemd credential, like api.api_key_file
// ("${CREDENTIALS_DIRECTORY}/NAME", resolved when read: config/api_key.h).
//
// Thread-safety: readStateUrl reads the process environment (getenv) and
// must not race a setenv; the others are pure (hostInstanceName asks the
// kernel).
#pragma once

#include <string>
#include <string_view>

#include "util/result.h"

namespace jobwatch::config {

struct StateConfig;  // config/config.h

// The URI file holds one line; anything far larger is the wrong file.
inline constexpr std::size_t kMaxStateUrlBytes = std::size_t{16} * 1024;

// "state.url_file" or "state.url_env": the key the URI comes from (for
// messages about the database that must not show the URI).
std::string stateUrlKey(const StateConfig& state);

// Reads the URI: the file's one line (surrounding whitespace trimmed) or the
// variable's value. An error (naming the key and the file or variable, never
// the content) when it cannot be read, is empty, holds more than one line or
// control characters, or is not a postgresql:// (postgres://) URI.
[[nodiscard]] Result<std::string> readStateUrl(const StateConfig& state);

// Where a URI points, for people: "host:port/database", without user,
// password or options (e.g. "db.example.com:5432/jobwatch"); a missing port
// is shown as 5432, a missing host as "local socket".
std::string describeStateUrl(std::string_view uri);

// The host name (gethostname): state.instance when the config sets none.
// "" when it cannot be read.
std::string hostInstanceName();

}  // namespace jobwatch::config
