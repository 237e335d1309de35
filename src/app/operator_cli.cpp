// SPDX-License-Identifier: Apache-2.0
#include "app/operator_cli.h"

#include <iostream>

#include "app/commands.h"
#include "app/control_client.h"
#include "app/state_backend.h"

namespace jobwatch::app {
namespace {

// The daemon answers within its own bounds (2 s for the scheduler); this
// covers a queue of other clients before us.
constexpr std::chrono::seconds kAnswerTimeout{30};

int print(const Command& cmd, const ControlResponse& r) {
  if (!r.ok) {
    std::cerr << "jobwatchd: " << r.error << "\n";
    return r.exit_code;
  }
  if (cmd.json) {
    std::cout << r.data_json << "\n";
  } else {
    std::cout << r.text;
  }
  return r.exit_code;
}

int fromStore(const Command& cmd, const config::Config& config, const ControlRequest& req,
              const StoreFallback& fallback) {
  auto reader = openStateReader(config);
  if (!reader) {
    std::cerr << "jobwatchd: " << reader.error().message << "\n";
    return kExitRuntime;
  }
  auto answer = fallback(**reader, req);
  if (!answer) {
    std::cerr << "jobwatchd: " << answer.error().message << "\n";
    return kExitRuntime;
  }
  std::cerr << "jobwatchd: the daemon is not running (nothing answers on "
            << config.control.socket.string() << "); read from " << describeStateStore(config)
            << " (read-only)\n";
  const int rc = print(cmd, *answer);
  return rc == kExitOk ? kExitRuntime : rc;
}

}  // namespace

int runOperatorCommand(const Command& cmd, ControlRequest request, const StoreFallback& fallback) {
  auto config = loadOrReport(cmd.config);
  if (!config) return kExitBadInput;
  request.text = !cmd.json;
  // The daemon's own validation, before anything is sent or read.
  if (auto valid = parseRequest(encodeRequest(request)); !valid) {
    std::cerr << "jobwatchd: " << valid.error().message << "\n";
    return kExitBadInput;
  }
  DaemonCall call = callDaemon(config->control.socket, request, kAnswerTimeout);
  if (call.not_running) {
    if (!fallback) {
      std::cerr << "jobwatchd: the daemon is not running (" << call.response.error().message
                << ")\n";
      return kExitRuntime;
    }
    return fromStore(cmd, *config, request, fallback);
  }
  if (!call.response) {
    std::cerr << "jobwatchd: " << call.response.error().message << "\n";
    return exitCodeForFailedCall(call);
  }
  return print(cmd, *call.response);
}

}  // namespace jobwatch::app
