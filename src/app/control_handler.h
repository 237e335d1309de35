// SPDX-License-Identifier: Apache-2.0
// The daemon's side of the control protocol: one request line in, one
// answer line out, answered by the OperatorView. Invalid requests get an
// error answer (exit 1) and change nothing; so does every failure of the
// daemon's parts (failureResponse).
//
// Thread-safety: as the OperatorView (the control server's thread).
#pragma once

#include <string>
#include <string_view>

#include "app/control_protocol.h"
#include "app/operator_view.h"

namespace jobwatch::app {

std::string answerControlLine(OperatorView& view, std::string_view line);
ControlResponse answerRequest(OperatorView& view, const ControlRequest& request);

// The answer to a request the daemon could not serve: exit 1 (exit 3 is
// the CLI's, for a daemon that does not answer at all); a runtime failure
// (scheduler busy, database unreadable) says that the daemon is running.
ControlResponse failureResponse(const Error& error);

// The answer to retry, poll or forget as data and text.
std::string outcomesJson(const std::vector<JobOutcome>& outcomes);
std::string outcomesText(const std::vector<JobOutcome>& outcomes);

}  // namespace jobwatch::app
