// SPDX-License-Identifier: Apache-2.0
// The scenario a fakeapi process serves: jobs with their status timelines and
// body fields, scripted faults, and the API key rule, loaded from YAML.
// Loading validates everything up front; every error names file and line.
// Fault parameters have one parser shared by the YAML loader and the admin
// query string (`parseFault`), so both accept exactly the same words.
//
// Thread-safety: plain values; loading is a pure function of the file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace fakeapi {

using Millis = std::chrono::milliseconds;

enum class FaultKind { kHttp, kDelay, kHang, kTrickle, kReset, kClose, kTruncated, kBody, kLarge };

struct FaultSpec {
  FaultKind kind = FaultKind::kHttp;
  int code = 0;                     // http
  std::string retry_after;          // http: sent verbatim as Retry-After
  std::string location;             // http: Location header (redirect tests)
  std::string content_type;         // http, body: empty means application/json
  std::optional<std::string> body;  // http (default {"detail":...}), body (required)
  Millis delay{0};                  // delay: `ms`
  Millis every{1000};               // trickle: one body byte per `every`
  std::size_t bytes = 0;            // large
  // Selection. `endpoint`: "status" (/jobs/{id}) or "result"
  // (/jobs/{id}/result) only; empty: both.
  std::string endpoint;
  // Only requests presenting this key (an outage of one account); unset:
  // every request.
  std::optional<std::string> key;
  // Neither count nor window: permanent until cleared.
  std::optional<std::uint64_t> count;  // the next N matching requests
  std::optional<Millis> from;          // since server start
  std::optional<Millis> until;
};

struct TimelineStep {
  Millis at{0};
  std::string status;  // sent exactly as written
};

// What a job looks like; shared by every job a `generate` entry makes.
struct JobTemplate {
  std::optional<std::string> type;
  std::optional<std::string> pdf_name;
  std::optional<std::string> pdf_hash;
  std::optional<std::string> user_id;
  std::optional<std::string> created_at;
  std::optional<std::string> error;    // sent only while the status is FAILED
  bool id_field_is_job_id = false;     // `id_field: job_id`
  std::vector<TimelineStep> timeline;  // never empty; sorted by `at`
  std::vector<FaultSpec> faults;
  // /result: a generated body of exactly this many bytes (0: the small
  // default), streamed at `result_rate` bytes per second (0: at once).
  std::uint64_t result_bytes = 0;
  std::uint64_t result_rate = 0;
  // Sent with Transfer-Encoding: chunked, no Content-Length (the size is
  // known only at the end, as for a server that streams what it makes).
  bool result_chunked = false;
};

struct JobSpec {
  std::string id;
  std::shared_ptr<const JobTemplate> job;
};

enum class TimelineStart { kServerStart, kFirstRequest };

// A key's limit: at most `per_window` requests in any Scenario::rate_window.
struct RateLimit {
  std::string key;
  std::uint64_t per_window = 0;
};

struct Scenario {
  std::optional<std::string> api_key;  // absent (and api_keys empty): no key check
  std::vector<std::string> api_keys;   // more valid keys besides api_key
  std::string key_header = "X-API-Key";
  TimelineStart timeline_start = TimelineStart::kServerStart;
  std::vector<JobSpec> jobs;
  std::vector<FaultSpec> faults;  // global
  std::vector<RateLimit> rate_limits;
  Millis rate_window{60'000};  // the sliding window of every rate limit
};

struct ScenarioError {
  std::string message;  // "FILE:LINE: what is wrong"
};

[[nodiscard]] std::variant<Scenario, ScenarioError> loadScenario(const std::string& path);

// One `key: value` of a fault, from YAML or from an admin query string.
struct FaultField {
  std::string_view name;
  std::string_view value;
};

struct FieldError {
  std::string key;  // the offending key ("kind" when one is missing)
  std::string message;
};

// Validates a fault's fields. `raw: true` makes a body's characters
// U+0000..U+00FF single bytes, so YAML escapes such as "\xff" can produce the
// invalid UTF-8 that YAML strings themselves cannot hold.
[[nodiscard]] std::variant<FaultSpec, FieldError> parseFault(std::span<const FaultField> fields);

// "500ms", "2s", "1.5m", "1h" (number + unit ms|s|m|h); "0" alone is allowed.
[[nodiscard]] std::optional<Millis> parseDuration(std::string_view text);

// A job id the fake can serve at /jobs/{id}: non-empty, at most 1024 bytes,
// no '/', '?', '#', whitespace or control characters.
[[nodiscard]] bool isServableJobId(std::string_view id);

}  // namespace fakeapi
