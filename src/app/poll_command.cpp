// SPDX-License-Identifier: Apache-2.0
// `jobwatchd poll ID...`: poll these jobs now, within the budget.
// Only the running daemon can do it: no fallback (exit 3 when it is not running).
#include "app/operator_cli.h"

namespace jobwatch::app {

int runPoll(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kPoll;
  req.ids = cmd.ids;
  return runOperatorCommand(cmd, req);
}

}  // namespace jobwatch::app
