#include "app/commands.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>

#include "app/poll_loop.h"
#include "app/service_parts.h"
#include "app/signals.h"
#include "app/version.h"
#include "config/config.h"
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
    std::string error = job.error;
    if (job.polled && job.last_result != api::PollResultKind::kOk) {
      error = "poll failed: " + std::string(api::resultLabel(job.last_result));
      any_failed = true;
    }
    rows.push_back({job.id, job.status, job.type.empty() ? "-" : job.type,
                    job.pdf_name.empty() ? "-" : job.pdf_name, error.empty() ? "-" : error});
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

// Terminal jobs older than state.forget_after leave the database and then
// the engine (memory, counts). Ledger rows of unfinished hooks stay.
void forgetOldJobs(ServiceParts& parts, PollLoop& loop, const Clock& clock, Log& log) {
  auto forgotten =
      parts.store().forgetTerminalBefore(clock.wallNow() - parts.config().state.forget_after);
  if (!forgotten.ok()) {
    log.error("could not forget old jobs", {{"error", forgotten.error().message}});
    return;
  }
  if (forgotten.value().empty()) return;
  parts.refreshForgotten();
  log.info("forgot finished jobs", {{"jobs", std::to_string(forgotten.value().size())},
                                    {"older_than", formatDuration(parts.config().state.forget_after)}});
  loop.post([ids = std::move(forgotten).value()](scheduler::PollEngine& engine) {
    for (const auto& id : ids) engine.removeJob(id);
  });
}

int runService(const Command& cmd) {
  // Before any thread exists (libcurl's resolver threads inherit the mask).
  blockServiceSignals();
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
  parts.loadWatchFile(false);
  parts.startBackground();
  log.info("jobwatchd started", {{"version", kVersion},
                                 {"config", cmd.config.string()},
                                 {"base_url", config->api.base_url},
                                 {"jobs", std::to_string(parts.engine().jobCount())},
                                 {"interval", formatDuration(config->poll.interval)}});

  PollLoop loop(parts.engine(), parts.transport(), log,
                std::min<Millis>(config->api.request_timeout, 10s));
  loop.start();
  int rc = kExitOk;
  const Millis forget_every = std::clamp<Millis>(config->state.forget_after / 2, 500ms, 60s);
  SteadyTime next_forget = clock.now();
  for (;;) {
    if (clock.now() >= next_forget) {
      forgetOldJobs(parts, loop, clock, log);
      next_forget = clock.now() + forget_every;
    }
    SignalRequest request = waitForSignal(500ms);
    if (request == SignalRequest::kStop) break;
    if (request == SignalRequest::kReload) {
      log.warn("SIGHUP received: live reload is not supported by this version; restart to apply");
    }
    if (loop.failed()) {
      rc = kExitRuntime;
      break;
    }
  }
  // Ordered stop: no new polls (answers in flight are still recorded), then
  // commit state, then drain hooks.
  log.info("stopping");
  loop.stop();
  parts.stopBackground();
  log.info("stopped", {{"jobs", std::to_string(parts.engine().jobCount())}});
  return rc;
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
    case Mode::kRun:
      return runService(cmd);
  }
  return kExitUsage;
}

}  // namespace jobwatch::app
