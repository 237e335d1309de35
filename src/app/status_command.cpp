// SPDX-License-Identifier: Apache-2.0
// `jobwatchd status`: the daemon's health, budget, jobs and hooks.
#include "app/operator_cli.h"
#include "app/operator_json.h"
#include "app/operator_source.h"
#include "app/operator_text.h"

namespace jobwatch::app {

int runStatus(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kStatus;
  return runOperatorCommand(
      cmd, req, [](state::StateReader& reader, const ControlRequest& r) -> Result<ControlResponse> {
        auto report = statusFromStore(reader);
        if (!report) return report.error();
        return reportResponse(
            *report, r.text, [](const auto& x) { return toJson(x); },
            [](const auto& x) { return toText(x); });
      });
}

}  // namespace jobwatch::app
