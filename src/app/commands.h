// SPDX-License-Identifier: Apache-2.0
// The daemon's commands, one file each: run the service (run_command.cpp),
// --once (once_command.cpp), --check-config (check_config_command.cpp), add
// (add_command.cpp), and the operator commands (operator_cli.h). Each returns the process exit
// code. main() parses the command line and calls runCommand().
#pragma once

#include <filesystem>
#include <optional>

#include "app/command_line.h"
#include "config/config.h"

namespace jobwatch::app {

int runCommand(const Command& command);

int checkConfig(const Command& cmd);
int runOnce(const Command& cmd);
int runAdd(const Command& cmd);
int runService(const Command& cmd);

// Loads the config, printing every problem (and warning) to stderr.
// nullopt when invalid.
std::optional<config::Config> loadOrReport(const std::filesystem::path& path);

}  // namespace jobwatch::app
