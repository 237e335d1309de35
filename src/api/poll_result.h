// SPDX-License-Identifier: Apache-2.0
// What one poll of GET /jobs/{id} came to, classified the way the SPEC's
// jobwatch_polls_total{result} counts it.
//
// Thread-safety: pure functions over values.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_transport.h"
#include "api/job_snapshot.h"

namespace jobwatch::api {

enum class PollResultKind {
  kOk,
  kHttpError,  // 5xx (other than 503 with Retry-After handling) or other unexpected codes
  kTimeout,
  kNetworkError,  // includes refused bodies over 1 MiB
  kParseError,    // 200 with a body we cannot use
  kAuthError,     // 401, 403
  kRateLimited,   // 429, and 503 (both honour Retry-After)
  kNotFound,      // 404
};

// The metric label: ok, http_error, timeout, network_error, parse_error,
// auth_error, rate_limited, not_found.
std::string_view resultLabel(PollResultKind kind);

// Did the poll reach a working API that accepted the key? A 404, a body we
// could not parse and a 429 all did; timeouts, network errors, 5xx and
// 401/403 did not. This is what jobwatch_api_up and the "API unreachable"
// log line mean.
bool apiAnswered(PollResultKind kind);

struct PollResult {
  PollResultKind kind = PollResultKind::kNetworkError;
  long http_status = 0;
  std::optional<JobSnapshot> job;  // set when kOk
  std::string body;                // raw body when kOk (hooks get it verbatim)
  std::optional<std::chrono::seconds> retry_after;
  std::chrono::microseconds elapsed{0};
  std::string detail;  // why it failed, for logs; bounded and printable
};

// Turns a transport response into a poll result. `expected_id` is the ID
// polled; a body naming another job is a parse error.
PollResult classifyResponse(HttpResponse response, JobResponseParser& parser,
                            std::string_view expected_id);

// {base_url}/jobs/{id}. `id` must already be a valid job ID.
std::string jobUrl(std::string_view base_url, std::string_view id);

}  // namespace jobwatch::api
