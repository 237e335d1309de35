// SPDX-License-Identifier: Apache-2.0
#include <iostream>

#include "app/commands.h"
#include "watchlist/watch_file.h"

namespace jobwatch::app {

int checkConfig(const Command& cmd) {
  config::ConfigLoad load = config::loadConfigFile(cmd.config);
  size_t problems = load.issues.size();
  for (const auto& issue : load.issues) std::cout << issue.toString() << "\n";
  for (const auto& warning : load.warnings) std::cout << "warning: " << warning.toString() << "\n";
  size_t jobs = 0;
  if (load.config && load.config->watch.file) {
    watchlist::WatchParse watch = watchlist::loadWatchFile(*load.config->watch.file);
    for (const auto& issue : watch.issues) std::cout << issue.toString() << "\n";
    problems += watch.issues.size();
    jobs = watch.entries.size();
  }
  if (load.config) {
    // The key may legitimately be readable only by the service user.
    auto key = config::readApiKey(load.config->api);
    if (!key.ok()) std::cout << "warning: " << key.error().message << "\n";
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
