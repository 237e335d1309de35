// The daemon's commands: run the service, --once, --check-config. Each
// returns the process exit code. main() parses the command line and calls
// runCommand(); everything else is wired here.
#pragma once

#include "app/command_line.h"

namespace jobwatch::app {

int runCommand(const Command& command);

}  // namespace jobwatch::app
