// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <array>
#include <iostream>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/daemon.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::app {

namespace {

void printTable(const std::vector<std::array<std::string, 5>>& rows) {
  std::array<size_t, 5> width{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string orDash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace

int runOnce(const Command& cmd) {
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  Log log(config->logging.format, config->logging.level);
  if (config->state.backend == config::StateBackend::kPostgresql) {
    // A fleet decides who polls which job; one pass over all of them from
    // here would poll jobs other instances hold.
    log.error("--once works with state.backend sqlite only: with postgresql, run the daemon");
    return kExitBadInput;
  }
  SystemClock clock;
  auto built = Daemon::build(*config, log, clock);
  if (!built.ok()) {
    log.error(built.error().message);
    return built.error().kind == ErrorKind::kRuntime ? kExitRuntime : kExitBadInput;
  }
  Daemon& daemon = *built.value();
  if (auto restored = daemon.restore(); !restored.ok()) {
    log.error(restored.error().message);
    return restored.error().kind == ErrorKind::kRuntime ? kExitRuntime : kExitBadInput;
  }
  daemon.loadWatchFile(*config, true);
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"ID", "STATUS", "TYPE", "PDF NAME", "ERROR"});
  const bool answered = daemon.runOnce(*config, [&rows](const OnceRow& row) {
    rows.push_back({row.id, row.status, orDash(row.type), orDash(row.pdf_name), orDash(row.error)});
  });
  printTable(rows);
  return answered ? kExitOk : kExitBadInput;
}

}  // namespace jobwatch::app
