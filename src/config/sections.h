// SPDX-License-Identifier: Apache-2.0
// The config's top-level sections, one parser each, and the checks that
// span keys (run after every section is read). Internal to config/: each
// parser reads one section through a SchemaReader, which collects the
// problems, into the part of Config it owns.
//
// Thread-safety: pure functions of their arguments; one load, one thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/schema_reader.h"

namespace jobwatch::config {

// A hook `on` status, kept to be compared with the known statuses once
// poll.status_aliases and poll.extra_terminal_statuses are read.
struct PendingHookStatus {
  std::string key;
  int line = 0;
  std::string status;
};

// What sections leave for the checks that span keys.
struct DeferredChecks {
  std::optional<std::string> base_url;  // as written; checked with allow_insecure_http
  std::vector<PendingHookStatus> hook_statuses;
  std::optional<Value> accounts;  // read once api: is settled (it inherits from it)
  int default_threads = 1;        // api.threads
};

// api.threads and accounts[].threads: engine threads per account.
inline constexpr int kMaxAccountThreads = 16;

// `word` lowercased, as statuses are kept; nullopt after reporting (at `v`)
// one that is not a valid status `noun` (see isStatusWord).
std::optional<std::string> lowercaseStatus(SchemaReader& r, const Value& v, std::string_view word,
                                           std::string_view noun = "status name");

// A file that may be a systemd credential (api.api_key_file,
// state.url_file): a path, or the name after a leading
// ${CREDENTIALS_DIRECTORY}/ (also without braces), kept unresolved until
// read (the directory exists only while the unit runs). Empty: not set.
void readCredentialFile(SchemaReader& r, const Value& v, std::optional<std::filesystem::path>& out);

// The keys of `api:`, which an `accounts:` entry accepts too: readers into
// `api` and `threads`; base_url is kept as written in `base_url`, to be
// checked with allow_insecure_http once the whole map is read.
std::vector<Field> apiFields(SchemaReader& r, ApiConfig& api, int& threads,
                             std::optional<std::string>& base_url);
void parseApiSection(SchemaReader& r, const Value& section, ApiConfig& api, int& threads,
                     DeferredChecks& later);
void parsePollSection(SchemaReader& r, const Value& section, PollConfig& poll);
void parseWatchSection(SchemaReader& r, const Value& section, WatchConfig& watch);
void parseStateSection(SchemaReader& r, const Value& section, StateConfig& state);
void parseHooksSection(SchemaReader& r, const Value& section, HooksConfig& hooks,
                       DeferredChecks& later);
void parseMetricsSection(SchemaReader& r, const Value& section, MetricsConfig& metrics);
void parseLoggingSection(SchemaReader& r, const Value& section, LoggingConfig& logging);
void parseShardSection(SchemaReader& r, const Value& section, ShardConfig& shard);
void parseResultsSection(SchemaReader& r, const Value& section, ResultsConfig& results);
void parseControlSection(SchemaReader& r, const Value& section, ControlConfig& control);

// A size with a unit: "64MiB", "512KiB", "1GB", "1000" (bytes). nullopt
// when it is not one.
std::optional<std::uint64_t> parseByteSize(std::string_view text);

// `accounts:` (SPEC "Accounts"), read after checkAcrossKeys settled api:
// (its normalised base_url): sets cfg.accounts to "default" (cfg.api,
// `default_threads`) followed by each valid entry, unset keys inherited
// from cfg.api. `section` is nullopt when the file has no `accounts:`.
void parseAccountsSection(SchemaReader& r, const std::optional<Value>& section, int default_threads,
                          Config& cfg);

// Checks between keys (poll.backoff_max against poll.interval, ...) and the
// base URL, which needs api.allow_insecure_http; sets api.base_url.
void checkAcrossKeys(SchemaReader& r, const DeferredChecks& later, Config& cfg);

}  // namespace jobwatch::config
