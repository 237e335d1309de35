// SPDX-License-Identifier: Apache-2.0
// What one fetch of GET /jobs/{id}/result came to (SPEC "Results"),
// classified the way jobwatch_result_fetches_total{result} counts it.
//
// Thread-safety: pure functions over values.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_transport.h"
#include "api/result_file.h"

namespace jobwatch::api {

enum class ResultFetchKind {
  kOk,
  kHttpError,  // 404, 5xx, 401/403, other codes, a body that is not JSON
  kTimeout,
  kNetworkError,  // refused, reset, a body cut short
  kTooLarge,      // over results.max_size: final, not retried
  kRateLimited,   // 429, and 503 with Retry-After (pauses every request)
  kNotReady,      // 409: the job's result is not there yet
  kWriteError,    // the file could not be written (disk full, I/O error)
};

// ok, http_error, timeout, network_error, too_large, rate_limited,
// not_ready, write_error.
std::string_view resultFetchLabel(ResultFetchKind kind);
// Every label, for zero-filled metrics.
std::vector<std::string> resultFetchLabels();

struct ResultFetchOutcome {
  ResultFetchKind kind = ResultFetchKind::kNetworkError;
  long http_status = 0;
  std::optional<std::chrono::seconds> retry_after;
  std::string detail;  // why it failed, for logs and JOBWATCH_RESULT_ERROR
};

// Classifies a finished exchange whose 2xx body streamed into `file`
// (whose fault says why it refused a chunk). A 200 is kOk only as far as
// the transport goes: the caller still commits the file.
ResultFetchOutcome classifyResultResponse(const HttpResponse& response, const ResultFile& file);

// The outcome of a failed ResultFile::commit().
ResultFetchOutcome classifyCommitFailure(const ResultFile& file);

// {base_url}/jobs/{id}/result. `id` must already be a valid job ID.
std::string resultUrl(std::string_view base_url, std::string_view id);

}  // namespace jobwatch::api
