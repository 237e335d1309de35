// SPDX-License-Identifier: Apache-2.0
// `jobwatchd hooks [--failed]`: the hook ledger's open and failed runs.
#include "app/operator_cli.h"
#include "app/operator_json.h"
#include "app/operator_source.h"
#include "app/operator_text.h"

namespace jobwatch::app {

int runHooks(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kHooks;
  req.failed_only = cmd.failed_only;
  return runOperatorCommand(
      cmd, req, [](state::StateReader& reader, const ControlRequest& r) -> Result<ControlResponse> {
        auto report = hooksFromStore(reader, r.failed_only, SystemClock{}.wallNow());
        if (!report) return report.error();
        return reportResponse(
            *report, r.text, [](const auto& x) { return toJson(x); },
            [](const auto& x) { return toText(x); });
      });
}

}  // namespace jobwatch::app
