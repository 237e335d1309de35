// SPDX-License-Identifier: Apache-2.0
#include "app/commands.h"
#include "app/service.h"
#include "app/signals.h"

namespace jobwatch::app {

int runService(const Command& cmd) {
  // Before any thread exists (libcurl's resolver threads inherit the mask).
  blockServiceSignals();
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  Log log(config->logging.format, config->logging.level);
  Service service(cmd.config, std::move(*config), log, makeServiceNotifier());
  return service.run();
}

}  // namespace jobwatch::app
