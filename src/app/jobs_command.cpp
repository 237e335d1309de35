// SPDX-License-Identifier: Apache-2.0
// `jobwatchd jobs [--status S]... [--account A]`: one line per job.
#include "app/operator_cli.h"
#include "app/operator_json.h"
#include "app/operator_source.h"
#include "app/operator_text.h"

namespace jobwatch::app {

int runJobs(const Command& cmd) {
  ControlRequest req;
  req.cmd = ControlCommand::kJobs;
  req.statuses = cmd.statuses;
  req.account = cmd.account;
  return runOperatorCommand(
      cmd, req, [](state::StateReader& reader, const ControlRequest& r) -> Result<ControlResponse> {
        auto report =
            jobsFromStore(reader, JobsFilter{r.statuses, r.account}, SystemClock{}.wallNow());
        if (!report) return report.error();
        return reportResponse(
            *report, r.text, [](const auto& x) { return toJson(x); },
            [](const auto& x) { return toText(x); });
      });
}

}  // namespace jobwatch::app
