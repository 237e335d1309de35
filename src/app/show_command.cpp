// SPDX-License-Identifier: Apache-2.0
// `jobwatchd show ID`: one job with its history.
#include "app/operator_cli.h"
#include "app/operator_json.h"
#include "app/operator_source.h"
#include "app/operator_text.h"

namespace jobwatch::app {

int runShow(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kShow;
  req.ids = cmd.ids;
  return runOperatorCommand(
      cmd, req, [](state::StateReader& reader, const ControlRequest& r) -> Result<ControlResponse> {
        auto detail = jobFromStore(reader, r.ids.front(), SystemClock{}.wallNow());
        if (!detail) return detail.error();
        if (!*detail) return errorResponse("no job " + r.ids.front() + " is known");
        return reportResponse(
            **detail, r.text, [](const auto& x) { return toJson(x); },
            [](const auto& x) { return toText(x); });
      });
}

}  // namespace jobwatch::app
