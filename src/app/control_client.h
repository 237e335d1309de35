// SPDX-License-Identifier: Apache-2.0
// The CLI's side of the control socket: sends one request line, reads one
// answer line (bounded: kMaxAnswerBytes, `timeout` in all).
//
// Thread-safety: pure function of its arguments (one socket per call).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "app/control_protocol.h"
#include "util/result.h"

namespace jobwatch::app {

inline constexpr size_t kMaxAnswerBytes = size_t{256} * 1024 * 1024;

struct DaemonCall {
  bool not_running = false;  // no socket, or nobody listening on it
  bool denied = false;       // connect: permission denied (not the service user or group)
  bool connected = false;    // someone answers on the socket: the daemon is running
  Result<ControlResponse> response = Error{"not called"};
};

DaemonCall callDaemon(const std::filesystem::path& socket, const ControlRequest& request,
                      std::chrono::milliseconds timeout);

// The CLI's exit code for a call without an answer: 3 (not running) only
// when nothing answers on the socket; 1 when the daemon is running but its
// answer failed, or when this user may not use the socket.
int exitCodeForFailedCall(const DaemonCall& call);

}  // namespace jobwatch::app
