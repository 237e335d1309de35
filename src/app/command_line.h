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

enum class Mode {
  kRun,
  kOnce,
  kCheckConfig,
  kAdd,
  kVersion,
  kHelp,
  // Operator commands (SPEC "Operator interface"), answered by the running
  // daemon over its control socket.
  kStatus,
  kJobs,
  kShow,
  kHooks,
  kRetry,
  kPoll,
  kForget,
};

struct Command {
  Mode mode = Mode::kRun;
  std::filesystem::path config = kDefaultConfigPath;
  std::vector<std::string> ids;  // add, show, poll, forget: job IDs; retry: event IDs
  std::vector<std::pair<std::string, std::string>> labels;  // add: --label k=v
  bool json = false;                                        // operator commands: --json
  std::vector<std::string> statuses;                        // jobs --status (repeatable)
  std::string account;                                      // jobs, add: --account
  bool failed_only = false;                                 // hooks --failed
  bool all_failed = false;                                  // retry --all-failed
  std::string usage_error;                                  // set when the command line is wrong
};

Command parseCommandLine(const std::vector<std::string>& args);

std::string usageText();
std::string versionText();

}  // namespace jobwatch::app
