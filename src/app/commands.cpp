// SPDX-License-Identifier: Apache-2.0
#include "app/commands.h"

#include <iostream>

#include "app/operator_cli.h"

namespace jobwatch::app {

std::optional<config::Config> loadOrReport(const std::filesystem::path& path) {
  config::ConfigLoad load = config::loadConfigFile(path);
  for (const auto& issue : load.issues) std::cerr << "jobwatchd: " << issue.toString() << "\n";
  if (!load.issues.empty()) return std::nullopt;
  for (const auto& warning : load.warnings) {
    std::cerr << "jobwatchd: warning: " << warning.toString() << "\n";
  }
  return load.config;
}

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
    case Mode::kStatus:
      return runStatus(cmd);
    case Mode::kJobs:
      return runJobs(cmd);
    case Mode::kShow:
      return runShow(cmd);
    case Mode::kHooks:
      return runHooks(cmd);
    case Mode::kRetry:
      return runRetry(cmd);
    case Mode::kPoll:
      return runPoll(cmd);
    case Mode::kForget:
      return runForget(cmd);
  }
  return kExitUsage;
}

}  // namespace jobwatch::app
