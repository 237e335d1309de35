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
  Result<ControlResponse> response = Error{"not called"};
};

DaemonCall callDaemon(const std::filesystem::path& socket, const ControlRequest& request,
                      std::chrono::milliseconds timeout);

}  // namespace jobwatch::app
