// SPDX-License-Identifier: Apache-2.0
// `jobwatchd retry EVENT_ID... | --all-failed`: permanently failed hook runs
// run again (the daemon commits the new attempt before it answers).
// Only the running daemon can do it: no fallback (exit 3 when it is not running).
#include "app/operator_cli.h"

namespace jobwatch::app {

int runRetry(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kRetry;
  req.ids = cmd.ids;
  req.all_failed = cmd.all_failed;
  return runOperatorCommand(cmd, req);
}

}  // namespace jobwatch::app
