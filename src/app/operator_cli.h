// SPDX-License-Identifier: Apache-2.0
// What every operator command does (status_command.cpp and its siblings
// only say what to ask and how to answer without the daemon): load the
// config, validate the request exactly as the daemon would, ask the daemon
// over control.socket, print its table or JSON; when the daemon is not
// running, exit 3 - after printing what `fallback` read from the state
// database (read-only, without the daemon's lock), for the read commands.
//
// Thread-safety: main thread; writes to stdout and stderr.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "app/command_line.h"
#include "app/control_protocol.h"
#include "state/state_reader.h"

namespace jobwatch::app {

// Reads the answer from the store: JSON data and text, or an error.
using StoreFallback =
    std::function<Result<ControlResponse>(state::StateReader& reader, const ControlRequest& req)>;

int runOperatorCommand(const Command& cmd, ControlRequest request,
                       const StoreFallback& fallback = nullptr);

// Fills a response from a report (as the daemon does).
template <typename Report, typename ToJson, typename ToText>
ControlResponse reportResponse(const Report& report, bool text, ToJson to_json, ToText to_text) {
  ControlResponse r;
  r.ok = true;
  r.exit_code = 0;
  r.data_json = to_json(report);
  if (text) r.text = to_text(report);
  return r;
}

int runStatus(const Command& cmd);
int runJobs(const Command& cmd);
int runShow(const Command& cmd);
int runHooks(const Command& cmd);
int runRetry(const Command& cmd);
int runPoll(const Command& cmd);
int runForget(const Command& cmd);

}  // namespace jobwatch::app
