// SPDX-License-Identifier: Apache-2.0
// `jobwatchd forget ID...`: stop watching drop-file jobs and forget them.
// Only the running daemon can do it: no fallback (exit 3 when it is not running).
#include "app/operator_cli.h"

namespace jobwatch::app {

int runForget(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kForget;
  req.ids = cmd.ids;
  return runOperatorCommand(cmd, req);
}

}  // namespace jobwatch::app
