// SPDX-License-Identifier: Apache-2.0
// The control socket's protocol: one request line, one answer line, each a
// JSON object (JSON lines), then the daemon closes the connection.
//
//   -> {"v":1,"cmd":"jobs","status":["failed"],"format":"text"}
//   <- {"v":1,"ok":true,"exit":0,"text":"ID  ...\n","data":{...}}
//   <- {"v":1,"ok":false,"exit":1,"error":"no job abc"}
//
// Requests are untrusted input and validated whole: at most
// kMaxRequestBytes, version 1, a known command, only the fields that
// command takes, each of its type and form (job IDs, event IDs, status
// words); anything else is answered with an error, never half-done.
// `exit` is the exit code the CLI ends with (0 ok, 1 bad input, not found
// or degraded).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace jobwatch::app {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxRequestBytes = size_t{64} * 1024;
inline constexpr size_t kMaxRequestIds = 1000;

enum class ControlCommand { kStatus, kJobs, kShow, kHooks, kRetry, kPoll, kForget };

struct ControlRequest {
  ControlCommand cmd = ControlCommand::kStatus;
  bool text = false;                  // "format": "text": a human table as well
  std::vector<std::string> statuses;  // jobs: --status
  std::string account;                // jobs: --account
  std::vector<std::string> ids;       // show (one), poll, forget: job IDs; retry: event IDs
  bool failed_only = false;           // hooks --failed
  bool all_failed = false;            // retry --all-failed
};

struct ControlResponse {
  bool ok = false;
  int exit_code = 1;
  std::string error;
  std::string text;       // the human form, when asked for
  std::string data_json;  // a JSON document; empty: none
};

std::string_view commandName(ControlCommand cmd);
std::optional<ControlCommand> commandFromName(std::string_view name);

// "<job_id>:<status>" with a valid job ID and status word.
bool isValidEventId(std::string_view id);

// A request line (without its newline). Errors say what is wrong, with
// untrusted text quoted and bounded.
Result<ControlRequest> parseRequest(std::string_view line);
// One line, without the newline.
std::string encodeRequest(const ControlRequest& request);

std::string encodeResponse(const ControlResponse& response);
Result<ControlResponse> parseResponse(std::string_view line);

ControlResponse errorResponse(std::string message, int exit_code = 1);

}  // namespace jobwatch::app
