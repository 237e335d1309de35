// SPDX-License-Identifier: Apache-2.0
#include "api/poll_result.h"

#include <utility>

#include "util/job_id.h"

namespace jobwatch::api {
namespace {

std::string httpDetail(long status, std::string_view what = {}) {
  std::string out = "HTTP " + std::to_string(status);
  if (!what.empty()) {
    out += ' ';
    out += what;
  }
  return out;
}

}  // namespace

bool apiAnswered(PollResultKind kind) {
  switch (kind) {
    case PollResultKind::kOk:
    case PollResultKind::kNotFound:
    case PollResultKind::kParseError:
    case PollResultKind::kRateLimited:
      return true;
    case PollResultKind::kTimeout:
    case PollResultKind::kNetworkError:
    case PollResultKind::kHttpError:
    case PollResultKind::kAuthError:
      return false;
  }
  return false;
}

std::string_view resultLabel(PollResultKind kind) {
  switch (kind) {
    case PollResultKind::kOk:
      return "ok";
    case PollResultKind::kHttpError:
      return "http_error";
    case PollResultKind::kTimeout:
      return "timeout";
    case PollResultKind::kNetworkError:
      return "network_error";
    case PollResultKind::kParseError:
      return "parse_error";
    case PollResultKind::kAuthError:
      return "auth_error";
    case PollResultKind::kRateLimited:
      return "rate_limited";
    case PollResultKind::kNotFound:
      return "not_found";
  }
  return "network_error";  // unreachable: every enumerator is handled above
}

PollResult classifyResponse(HttpResponse response, JobResponseParser& parser,
                            std::string_view expected_id) {
  PollResult result;
  result.retry_after = response.retry_after;
  result.elapsed = response.elapsed;
  result.http_status = response.status;

  switch (response.outcome) {
    case TransportOutcome::kTimeout:
      result.kind = PollResultKind::kTimeout;
      result.detail = std::move(response.detail);
      return result;
    case TransportOutcome::kNetworkError:
      result.kind = PollResultKind::kNetworkError;
      result.detail = std::move(response.detail);
      return result;
    case TransportOutcome::kBodyTooLarge:
    case TransportOutcome::kSinkRefused:  // polls have no sink
      result.kind = PollResultKind::kNetworkError;
      result.detail = "body over 1 MiB refused";
      return result;
    case TransportOutcome::kCompleted:
      break;
  }

  // Error bodies are not echoed into the detail: some APIs repeat the
  // credentials they rejected, and the key must never reach a log.
  const long status = response.status;
  if (status == 200) {
    auto parsed = parser.parse(response.body);
    if (!parsed) {
      result.kind = PollResultKind::kParseError;
      result.detail = parsed.error().message;
      return result;
    }
    if (parsed->id && *parsed->id != expected_id) {
      result.kind = PollResultKind::kParseError;
      result.detail = "body is for another job (id " + quoteForMessage(*parsed->id) + ")";
      return result;
    }
    result.kind = PollResultKind::kOk;
    result.job = std::move(parsed).value();
    result.body = std::move(response.body);
    return result;
  }
  if (status == 401 || status == 403) {
    result.kind = PollResultKind::kAuthError;
    result.detail = httpDetail(status, "(API key rejected)");
  } else if (status == 404) {
    result.kind = PollResultKind::kNotFound;
    result.detail = httpDetail(status);
  } else if (status == 429) {
    result.kind = PollResultKind::kRateLimited;
    result.detail = httpDetail(status);
  } else if (status == 503 && response.retry_after) {
    result.kind = PollResultKind::kRateLimited;
    result.detail = httpDetail(status, "with Retry-After");
  } else if (status >= 300 && status < 400) {
    result.kind = PollResultKind::kHttpError;
    result.detail = httpDetail(status, "redirect not followed");
  } else if (status >= 200 && status < 300) {
    result.kind = PollResultKind::kHttpError;
    result.detail = httpDetail(status, "(expected 200)");
  } else {
    result.kind = PollResultKind::kHttpError;
    result.detail = httpDetail(status);
  }
  return result;
}

std::string jobUrl(std::string_view base_url, std::string_view id) {
  while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
  std::string url;
  url.reserve(base_url.size() + 6 + id.size());
  url += base_url;
  url += "/jobs/";
  url += id;
  return url;
}

}  // namespace jobwatch::api
