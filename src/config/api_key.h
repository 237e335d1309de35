// SPDX-License-Identifier: Apache-2.0
// The API key: where api.api_key_file or api.api_key_env point, read when
// the daemon needs it (start and reload), never stored in the config.
//
// api.api_key_file may name a systemd credential: "${CREDENTIALS_DIRECTORY}/NAME"
// (also written "$CREDENTIALS_DIRECTORY/NAME"; only as the leading part, no
// other variable is expanded). The config keeps it in the braced form,
// unresolved; it is resolved from the environment each time the key is
// read, because systemd's LoadCredential= creates the directory (and sets
// CREDENTIALS_DIRECTORY) only for the running unit.
//
// Thread-safety: the functions read the process environment (getenv), so
// they must not race a setenv; otherwise they share no state.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace jobwatch::config {

struct ApiConfig;      // config/config.h
struct AccountConfig;  // config/config.h

inline constexpr std::string_view kCredentialsDirPrefix = "${CREDENTIALS_DIRECTORY}/";
inline constexpr std::string_view kCredentialsDirPrefixBare = "$CREDENTIALS_DIRECTORY/";

// How api.api_key_file as written is kept: when it starts with either
// credential prefix, the braced form, or an error (a whole message) when what
// follows is not the name of one credential; nullopt for a plain path.
std::optional<Result<std::filesystem::path>> credentialReference(std::string_view written);

// The file api_key_file names now: a plain path as is; a credential in
// $CREDENTIALS_DIRECTORY, or an error when that variable is not set.
[[nodiscard]] Result<std::filesystem::path> resolveApiKeyFile(
    const std::filesystem::path& configured);
// The same for any key that may name a credential (`key`, e.g.
// "state.url_file", names it in the error).
[[nodiscard]] Result<std::filesystem::path> resolveCredentialFile(
    const std::filesystem::path& configured, std::string_view key);

// Reads the API key from api_key_file (resolved as above; trimmed of
// trailing whitespace) or from the environment variable api_key_env. Errors
// name the file or variable, never the key. An empty key is an error.
[[nodiscard]] Result<std::string> readApiKey(const ApiConfig& api);

// The same for one account (SPEC "Accounts"): for an account other than
// "default" each error starts with "account `NAME`: ", so a log line or
// --check-config says whose key is missing. The default account's errors
// read exactly as readApiKey(api)'s.
[[nodiscard]] Result<std::string> readApiKey(const AccountConfig& account);

}  // namespace jobwatch::config
