// SPDX-License-Identifier: Apache-2.0
#include "api/result_fetch.h"

#include "api/poll_result.h"

namespace jobwatch::api {
namespace {

ResultFetchOutcome outcome(ResultFetchKind kind, long status, std::string detail) {
  ResultFetchOutcome out;
  out.kind = kind;
  out.http_status = status;
  out.detail = std::move(detail);
  return out;
}

std::string httpDetail(long status, std::string_view what) {
  std::string out = "HTTP " + std::to_string(status);
  if (!what.empty()) {
    out += ' ';
    out += what;
  }
  return out;
}

// Error bodies are not echoed (they could repeat the rejected key).
ResultFetchOutcome classifyStatus(const HttpResponse& response) {
  const long status = response.status;
  if (status == 200) return outcome(ResultFetchKind::kOk, status, {});
  if (status == 409) {
    return outcome(ResultFetchKind::kNotReady, status, httpDetail(status, "(result not ready)"));
  }
  if (status == 429 || (status == 503 && response.retry_after)) {
    auto out = outcome(ResultFetchKind::kRateLimited, status, httpDetail(status, "rate limited"));
    out.retry_after = response.retry_after;
    return out;
  }
  if (status == 404) {
    return outcome(ResultFetchKind::kHttpError, status, httpDetail(status, "(no such result)"));
  }
  if (status == 401 || status == 403) {
    return outcome(ResultFetchKind::kHttpError, status, httpDetail(status, "(API key rejected)"));
  }
  if (status >= 300 && status < 400) {
    return outcome(ResultFetchKind::kHttpError, status,
                   httpDetail(status, "redirect not followed"));
  }
  if (status >= 200 && status < 300) {
    return outcome(ResultFetchKind::kHttpError, status, httpDetail(status, "(expected 200)"));
  }
  return outcome(ResultFetchKind::kHttpError, status, httpDetail(status, {}));
}

ResultFetchKind kindOf(ResultWriteFault fault) {
  switch (fault) {
    case ResultWriteFault::kTooLarge:
      return ResultFetchKind::kTooLarge;
    case ResultWriteFault::kNotJson:
      return ResultFetchKind::kHttpError;
    case ResultWriteFault::kNone:
    case ResultWriteFault::kDiskFull:
    case ResultWriteFault::kIoError:
      break;
  }
  return ResultFetchKind::kWriteError;
}

}  // namespace

std::string_view resultFetchLabel(ResultFetchKind kind) {
  switch (kind) {
    case ResultFetchKind::kOk:
      return "ok";
    case ResultFetchKind::kHttpError:
      return "http_error";
    case ResultFetchKind::kTimeout:
      return "timeout";
    case ResultFetchKind::kNetworkError:
      return "network_error";
    case ResultFetchKind::kTooLarge:
      return "too_large";
    case ResultFetchKind::kRateLimited:
      return "rate_limited";
    case ResultFetchKind::kNotReady:
      return "not_ready";
    case ResultFetchKind::kWriteError:
      return "write_error";
  }
  return "network_error";  // unreachable: every enumerator handled
}

std::vector<std::string> resultFetchLabels() {
  std::vector<std::string> labels;
  for (auto kind :
       {ResultFetchKind::kOk, ResultFetchKind::kHttpError, ResultFetchKind::kTimeout,
        ResultFetchKind::kNetworkError, ResultFetchKind::kTooLarge, ResultFetchKind::kRateLimited,
        ResultFetchKind::kNotReady, ResultFetchKind::kWriteError}) {
    labels.emplace_back(resultFetchLabel(kind));
  }
  return labels;
}

ResultFetchOutcome classifyResultResponse(const HttpResponse& response, const ResultFile& file) {
  switch (response.outcome) {
    case TransportOutcome::kTimeout:
      return outcome(ResultFetchKind::kTimeout, 0, response.detail);
    case TransportOutcome::kNetworkError:
      return outcome(ResultFetchKind::kNetworkError, 0, response.detail);
    case TransportOutcome::kBodyTooLarge:
      return outcome(ResultFetchKind::kTooLarge, response.status,
                     "result over results.max_size (" + std::to_string(file.maxSize()) + " bytes)");
    case TransportOutcome::kSinkRefused:
      return classifyCommitFailure(file);
    case TransportOutcome::kCompleted:
      break;
  }
  return classifyStatus(response);
}

ResultFetchOutcome classifyCommitFailure(const ResultFile& file) {
  return outcome(kindOf(file.fault()), 200, file.faultDetail());
}

std::string resultUrl(std::string_view base_url, std::string_view id) {
  return jobUrl(base_url, id) + "/result";
}

}  // namespace jobwatch::api
