#include "app/commands.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>

#include "app/service.h"
#include "app/service_parts.h"
#include "app/signals.h"
#include "app/version.h"
#include "config/config.h"
#include "util/job_id.h"
#include "watchlist/drop_dir.h"
#include "watchlist/watch_file.h"

namespace jobwatch::app {
namespace {

using namespace std::chrono_literals;

// Loads the config, printing every problem to stderr. nullopt when invalid.
std::optional<config::Config> loadOrReport(const std::filesystem::path& path) {
  config::ConfigLoad load = config::loadConfigFile(path);
  for (const auto& issue : load.issues) std::cerr << "jobwatchd: " << issue.toString() << "\n";
  if (!load.issues.empty()) return std::nullopt;
  for (const auto& warning : load.warnings) {
    std::cerr << "jobwatchd: warning: " << warning.toString() << "\n";
  }
  return load.config;
}

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

void printTable(const scheduler::PollEngine& engine) {
  std::vector<std::array<std::string, 5>> rows;
  rows.push_back({"ID", "STATUS", "TYPE", "PDF NAME", "ERROR"});
  bool any_failed = false;
  engine.forEachJob([&](const scheduler::JobRecord& job) {
    std::string error = job.facts.error;
    if (job.polled && job.last_result != api::PollResultKind::kOk) {
      error = "poll failed: " + std::string(api::resultLabel(job.last_result));
      any_failed = true;
    }
    rows.push_back({job.id, job.status, job.facts.type.empty() ? "-" : job.facts.type,
                    job.facts.pdf_name.empty() ? "-" : job.facts.pdf_name, error.empty() ? "-" : error});
  });
  (void)any_failed;
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

int runOnce(const Command& cmd) {
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  Log log(config->logging.format, config->logging.level);
  SystemClock clock;
  auto built = ServiceParts::build(*config, log, clock);
  if (!built.ok()) {
    log.error(built.error().message);
    return kExitBadInput;
  }
  ServiceParts& parts = *built.value();
  if (auto restored = parts.restoreState(); !restored.ok()) {
    log.error(restored.error().message);
    return kExitBadInput;
  }
  parts.loadWatchFile(true);
  scheduler::PollEngine& engine = parts.engine();
  parts.writer().start();
  engine.startSinglePass();
  for (;;) {
    const SteadyTime wake = engine.step();
    if (engine.passFinished()) break;
    engine.wait(wake);
  }
  // Hooks due now run before the table is printed; retries that are not
  // due yet stay in the ledger for the service.
  if (!parts.writer().flush(30s)) log.error("state writes could not be committed");
  Millis longest = 0ms;
  for (const auto& hook : config->hooks.definitions) longest = std::max(longest, hook.timeout);
  parts.hookRunner().runUntilIdle(longest * 2 + 10s);
  printTable(engine);
  bool failed = false;
  engine.forEachJob([&](const scheduler::JobRecord& job) {
    failed |= job.polled && job.last_result != api::PollResultKind::kOk;
  });
  return failed ? kExitBadInput : kExitOk;
}

int runAdd(const Command& cmd) {
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  if (!config->watch.drop_dir) {
    std::cerr << "jobwatchd: " << cmd.config.string()
              << ": watch.drop_dir is not set; add needs a drop directory\n";
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
    watchlist::WatchEntry entry{id, {}};
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
  std::cout << "added " << entries.size() << " job" << (entries.size() == 1 ? "" : "s") << " ("
            << written.value().string() << "):";
  for (const auto& entry : entries) std::cout << " " << entry.id;
  std::cout << "\n";
  return kExitOk;
}

int runService(const Command& cmd) {
  // Before any thread exists (libcurl's resolver threads inherit the mask).
  blockServiceSignals();
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  Log log(config->logging.format, config->logging.level);
  Service service(cmd.config, std::move(*config), log, makeServiceNotifier());
  return service.run();
}

}  // namespace

int runCommand(const Command& cmd) {
  if (!cmd.usage_error.empty()) {
    std::cerr << "jobwatchd: " << cmd.usage_error << "\n\n" << usageText();
    return kExitUsage;
  }
  switch (cmd.mode) {
    case Mode::kHelp:
      std::cout << usageText();
      return kExitOk;
    case Mode::kVersion:
      std::cout << versionText();
      return kExitOk;
    case Mode::kCheckConfig:
      return checkConfig(cmd);
    case Mode::kOnce:
      return runOnce(cmd);
    case Mode::kAdd:
      return runAdd(cmd);
    case Mode::kRun:
      return runService(cmd);
  }
  return kExitUsage;
}

}  // namespace jobwatch::app
