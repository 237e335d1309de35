// SPDX-License-Identifier: Apache-2.0
// Parses jobwatchd's command line into a Command. No side effects: the
// caller decides what to print and which exit code to use.
//
// Thread-safety: pure function.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace jobwatch::app {

inline constexpr const char* kDefaultConfigPath = "/etc/jobwatchd/jobwatchd.yaml";

// Exit codes (SPEC "Command line").
inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;  // bad configuration or input; systemd must not restart
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;  // runtime failure (restart may help)

enum class Mode { kRun, kOnce, kCheckConfig, kAdd, kVersion, kHelp };

struct Command {
  Mode mode = Mode::kRun;
  std::filesystem::path config = kDefaultConfigPath;
  std::vector<std::string> ids;                             // add: job IDs
  std::vector<std::pair<std::string, std::string>> labels;  // add: --label k=v
  std::string usage_error;                                  // set when the command line is wrong
};

Command parseCommandLine(const std::vector<std::string>& args);

std::string usageText();
std::string versionText();

}  // namespace jobwatch::app
