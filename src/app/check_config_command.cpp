// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <iostream>

#include "app/commands.h"
#include "app/state_backend.h"
#include "config/state_url.h"
#include "state/postgres_state_store.h"
#include "util/job_id.h"
#include "watchlist/watch_file.h"

namespace jobwatch::app {
namespace {

std::string knownAccounts(const config::Config& config) {
  std::string out;
  for (const auto& account : config.accounts) out += (out.empty() ? "" : ", ") + account.name;
  return out;
}

// Watch entries naming an account the config does not have (SPEC
// "Accounts"), as issues with the watch file's line. The same ID under two
// accounts is already an issue of the parse.
std::vector<watchlist::WatchIssue> unknownAccounts(const watchlist::WatchParse& watch,
                                                   const std::filesystem::path& file,
                                                   const config::Config& config) {
  std::vector<watchlist::WatchIssue> out;
  for (const auto& entry : watch.entries) {
    if (config.account(entry.account) != nullptr) continue;
    out.push_back(watchlist::WatchIssue{
        file, entry.line,
        "job " + quoteForMessage(entry.id) + " names account `" + entry.account +
            "`, which the configuration does not define (known: " + knownAccounts(config) + ")"});
  }
  return out;
}

std::string schemaNote(const state::PostgresCheck& check) {
  if (check.schema_version == 0) return " (created at first start)";
  if (check.schema_version == check.current_version) return " (current)";
  return " (migrated to " + std::to_string(check.current_version) + " at first start)";
}

// state.backend postgresql: connects and reads the schema version. Prints
// one line; the number of problems (0 or 1). A URI this user cannot read is
// a warning, as an API key is: it may be readable only by the service.
size_t checkStateDatabase(const config::Config& config) {
  if (config.state.backend != config::StateBackend::kPostgresql) return 0;
  const std::string key = config::stateUrlKey(config.state);
  auto uri = config::readStateUrl(config.state);
  if (!uri.ok()) {
    std::cout << "warning: " << uri.error().message << "; the database was not checked\n";
    return 0;
  }
  const std::string where = config::describeStateUrl(uri.value());
  auto check = state::checkPostgres(uri.value());
  if (!check.ok()) {
    std::cout << key << ": the PostgreSQL database at " << where << ": "
              << redactStateUrl(check.error().message, uri.value()) << "\n";
    return 1;
  }
  std::cout << "state: postgresql " << check->server_version << " at " << where
            << ", schema version " << check->schema_version << schemaNote(*check) << "\n";
  return 0;
}

}  // namespace

int checkConfig(const Command& cmd) {
  config::ConfigLoad load = config::loadConfigFile(cmd.config);
  size_t problems = load.issues.size();
  for (const auto& issue : load.issues) std::cout << issue.toString() << "\n";
  for (const auto& warning : load.warnings) std::cout << "warning: " << warning.toString() << "\n";
  size_t jobs = 0;
  if (load.config && load.config->watch.file) {
    const std::filesystem::path& file = *load.config->watch.file;
    watchlist::WatchParse watch = watchlist::loadWatchFile(file);
    for (const auto& issue : unknownAccounts(watch, file, *load.config)) {
      watch.issues.push_back(issue);
    }
    std::stable_sort(watch.issues.begin(), watch.issues.end(),
                     [](const auto& a, const auto& b) { return a.line < b.line; });
    for (const auto& issue : watch.issues) std::cout << issue.toString() << "\n";
    problems += watch.issues.size();
    jobs = watch.entries.size();
  }
  if (load.config) {
    // The key may legitimately be readable only by the service user.
    for (const auto& account : load.config->accounts) {
      auto key = config::readApiKey(account);
      if (!key.ok()) std::cout << "warning: " << key.error().message << "\n";
    }
    problems += checkStateDatabase(*load.config);
  }
  if (problems > 0) {
    std::cout << cmd.config.string() << ": " << problems << " problem" << (problems > 1 ? "s" : "")
              << " found\n";
    return kExitBadInput;
  }
  std::cout << cmd.config.string() << ": configuration OK";
  if (load.config->watch.file) {
    std::cout << " (" << jobs << " job" << (jobs == 1 ? "" : "s") << " in "
              << load.config->watch.file->string() << ")";
  }
  std::cout << "\n";
  return kExitOk;
}

}  // namespace jobwatch::app
