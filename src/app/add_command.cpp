// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "app/commands.h"
#include "util/job_id.h"
#include "watchlist/drop_dir.h"

namespace jobwatch::app {
namespace {

std::string knownAccounts(const config::Config& config) {
  std::string out;
  for (const auto& account : config.accounts) out += (out.empty() ? "" : ", ") + account.name;
  return out;
}

}  // namespace

int runAdd(const Command& cmd) {
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  if (!config->watch.drop_dir) {
    std::cerr << "jobwatchd: " << cmd.config.string()
              << ": watch.drop_dir is not set; add needs a drop directory\n";
    return kExitBadInput;
  }
  // The account must exist before anything is written (SPEC "Accounts").
  if (!cmd.account.empty() && config->account(cmd.account) == nullptr) {
    std::cerr << "jobwatchd: " << cmd.config.string() << ": no account "
              << quoteForMessage(cmd.account) << " (known: " << knownAccounts(*config)
              << ")\njobwatchd: nothing added\n";
    return kExitBadInput;
  }
  std::vector<watchlist::WatchEntry> entries;
  bool bad = false;
  for (const auto& id : cmd.ids) {
    if (!isValidJobId(id)) {
      std::cerr << "jobwatchd: " << describeInvalidJobId(id) << "\n";
      bad = true;
      continue;
    }
    watchlist::WatchEntry entry;
    entry.id = id;
    entry.account = cmd.account;
    for (const auto& [key, value] : cmd.labels) entry.labels[key] = value;
    entries.push_back(std::move(entry));
  }
  if (bad) {
    std::cerr << "jobwatchd: nothing added\n";
    return kExitBadInput;
  }
  auto written = watchlist::writeDropFile(*config->watch.drop_dir, entries);
  if (!written.ok()) {
    std::cerr << "jobwatchd: " << written.error().message << "\njobwatchd: nothing added\n";
    return kExitBadInput;
  }
  std::cout << "added " << entries.size() << " job" << (entries.size() == 1 ? "" : "s");
  if (!cmd.account.empty()) std::cout << " under account " << cmd.account;
  std::cout << " (" << written.value().string() << "):";
  for (const auto& entry : entries) std::cout << " " << entry.id;
  std::cout << "\n";
  return kExitOk;
}

}  // namespace jobwatch::app
