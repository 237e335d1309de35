// SPDX-License-Identifier: Apache-2.0
// The daemon's configuration: the whole SPEC schema with its defaults.
//
// loadConfigFile() parses YAML, rejects unknown keys and bad values, and
// reports every problem with file, line and key. Relative paths inside the
// config (watch.file, watch.drop_dir, state.path, state.url_file,
// api.api_key_file and accounts[].api_key_file) are resolved against the
// config file's directory - except an api_key_file or url_file under
// ${CREDENTIALS_DIRECTORY}/ (see config/api_key.h, which this header
// includes: readApiKey, resolveApiKeyFile; and config/state_url.h).
//
// Thread-safety: Config is a plain value; share it as shared_ptr<const Config>.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/api_key.h"  // readApiKey, resolveApiKeyFile
#include "util/duration.h"
#include "util/log.h"
#include "util/result.h"

namespace jobwatch::config {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Client-side token bucket rate; 0 = off.
struct RateLimit {
  double per_second = 100.0 / 60.0;
  // The unit it was given in (N/s: 1 s, N/min: 1 min): no window of this
  // length holds more than N requests (the vendor counts per window).
  Millis window = minutes(1);
  bool off() const { return per_second <= 0; }
};

struct ApiConfig {
  std::string base_url = "https://prod.visionapi.unsiloed.ai";  // no trailing slash
  std::optional<std::filesystem::path> api_key_file;
  std::string api_key_env = "UNSILOED_API_KEY";
  std::string key_header = "X-API-Key";
  RateLimit rate_limit;
  Millis request_timeout = seconds(10);
  Millis connect_timeout = seconds(5);
  int max_concurrent_requests = 32;
  bool allow_insecure_http = false;
};

// One API account (SPEC "Accounts"): `api:` is the account named "default";
// each `accounts:` entry another, every key it leaves unset taken from `api:`.
struct AccountConfig {
  std::string name;  // ^[a-z0-9_-]{1,32}$; "default" for api:
  ApiConfig api;     // resolved (inherited keys filled in)
  int threads = 1;   // engine threads for this account's jobs, 1..16
};

// poll.strategy (SPEC "Polling strategy").
enum class PollStrategyName { kAdaptive, kRoundRobin };

// poll.overdue_after: auto (the 99th percentile of the type's learned
// duration, once 20 samples exist), off, or a fixed duration.
struct OverdueAfter {
  enum class Mode { kAuto, kOff, kFixed };
  Mode mode = Mode::kAuto;
  Millis after{0};  // kFixed only
  bool operator==(const OverdueAfter&) const = default;
};

struct PollConfig {
  Millis interval = seconds(5);
  double jitter = 0.1;  // fraction, 0..0.5
  Millis backoff_max = minutes(5);
  Millis give_up_after = hours(24);
  int not_found_after = 3;
  std::map<std::string, std::string> status_aliases;  // lowercase; defaults applied
  std::vector<std::string> extra_terminal_statuses;   // lowercase; defaults applied
  PollStrategyName strategy = PollStrategyName::kAdaptive;
  Millis max_interval = hours(1);  // below the vendor's 7-day deletion
  OverdueAfter overdue_after;
};

struct WatchConfig {
  std::optional<std::filesystem::path> file;
  std::optional<std::filesystem::path> drop_dir;
};

// state.backend (SPEC "High availability (PostgreSQL)").
enum class StateBackend { kSqlite, kPostgresql };

struct StateConfig {
  StateBackend backend = StateBackend::kSqlite;
  std::filesystem::path path = "/var/lib/jobwatchd/state.db";  // SQLite only
  Millis forget_after = hours(24 * 7);
  // PostgreSQL only: where the connection URI is (exactly one of the two;
  // read by readStateUrl, config/state_url.h). url_file may name a systemd
  // credential, as api.api_key_file may.
  std::optional<std::filesystem::path> url_file;
  std::optional<std::string> url_env;
  // This instance's name in the fleet (isInstanceName); loading sets the
  // host name when the file does not.
  std::string instance;
  Millis lease = seconds(30);
};

struct HookDefinition {
  std::string name;
  std::vector<std::string> on;       // canonical statuses, or {"*"}
  std::vector<std::string> types;    // empty: any type
  std::vector<std::string> command;  // argv; empty when `shell` is set
  std::optional<std::string> shell;  // explicit opt-in to /bin/sh -c
  Millis timeout = seconds(60);
  int retries = 3;
  bool with_result = false;  // runs once the job's result is on disk (SPEC "Results")
};

struct HooksConfig {
  int max_concurrent = 4;
  std::vector<HookDefinition> definitions;
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9464";
  bool per_job_series = true;
  std::uint64_t per_job_limit = 100000;
};

struct LoggingConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

struct ResultsConfig {
  std::filesystem::path dir = "/var/lib/jobwatchd/results";
  std::uint64_t max_size = std::uint64_t{64} << 20;  // bytes
  Millis give_up_after = hours(1);
};

struct ShardConfig {
  int index = 0;
  int count = 1;
};

// The operator's control socket (SPEC "Operator interface").
struct ControlConfig {
  std::filesystem::path socket = "/run/jobwatchd/control.sock";
  std::string group;  // "" = none: owner only (mode 0660 either way)
};

struct Config {
  std::filesystem::path source;         // the file it was loaded from
  ApiConfig api;                        // the default account's (accounts[0].api equals it)
  std::vector<AccountConfig> accounts;  // [0] is "default" (api:), then accounts: in file order
  PollConfig poll;
  WatchConfig watch;
  StateConfig state;
  HooksConfig hooks;
  MetricsConfig metrics;
  LoggingConfig logging;
  ShardConfig shard;
  ResultsConfig results;
  ControlConfig control;

  // The account called `name`; "" (a watch entry that names none) is
  // "default". nullptr when unknown.
  const AccountConfig* account(std::string_view name) const;
};

// One problem found in a config file.
struct ConfigIssue {
  std::filesystem::path file;
  int line = 0;     // 1-based; 0 when unknown (e.g. unreadable file)
  std::string key;  // dotted path, e.g. "poll.interval" or "hooks.definitions[1].timeout"
  std::string message;

  // "file:line: key: message"; parts that are unknown (line 0, no key) are left out.
  std::string toString() const;
};

struct ConfigLoad {
  std::optional<Config> config;  // set only when issues is empty
  std::vector<ConfigIssue> issues;
  // Non-fatal findings (a poll interval below the vendor's 2 s floor against a
  // remote API, metrics listening beyond loopback, a hook `on` status nothing
  // produces, ...). --check-config prints them; they never fail a load.
  std::vector<ConfigIssue> warnings;
};

// Reads and validates a config file. Never throws.
ConfigLoad loadConfigFile(const std::filesystem::path& path);
// Same, from text; `source` names the file in issues and anchors relative paths.
ConfigLoad loadConfigText(const std::string& yaml, const std::filesystem::path& source);

}  // namespace jobwatch::config
