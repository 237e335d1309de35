// SPDX-License-Identifier: Apache-2.0
// Fuzzes the API response parser (api::JobResponseParser::parse) and the
// classification of a 200 answer (api::classifyResponse), as the poll
// engine uses them on every body the API sends.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/job_snapshot.h"
#include "api/poll_result.h"
#include "fuzz_check.h"

namespace {

using jobwatch::api::JobSnapshot;

constexpr size_t kMaxStatus = 256;
constexpr size_t kMaxField = 64 * 1024;

bool bounded(const std::optional<std::string>& field) {
  return !field || field->size() <= kMaxField;
}

bool same(const JobSnapshot& a, const JobSnapshot& b) {
  return a.id == b.id && a.status_raw == b.status_raw && a.type == b.type &&
         a.created_at == b.created_at && a.updated_at == b.updated_at && a.pdf_name == b.pdf_name &&
         a.pdf_hash == b.pdf_hash && a.user_id == b.user_id && a.error == b.error;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One parser, reused across inputs like the engine's (state must not leak
  // from one body into the next).
  static jobwatch::api::JobResponseParser parser;
  const std::string body(reinterpret_cast<const char*>(data), size);

  // As the transport hands bodies over: 64 spare bytes of capacity.
  std::string padded;
  padded.reserve(size + 64);
  padded.assign(body);
  auto a = parser.parse(padded);
  // Without spare capacity the parser copies into padded storage: same verdict.
  std::string tight(body);
  tight.shrink_to_fit();
  auto b = parser.parse(tight);

  FUZZ_CHECK(a.ok() == b.ok());
  if (a.ok()) {
    const JobSnapshot& job = a.value();
    FUZZ_CHECK(!job.status_raw.empty() && job.status_raw.size() <= kMaxStatus);
    FUZZ_CHECK(bounded(job.id) && bounded(job.type) && bounded(job.created_at) &&
               bounded(job.updated_at) && bounded(job.pdf_name) && bounded(job.pdf_hash) &&
               bounded(job.user_id) && bounded(job.error));
    FUZZ_CHECK(same(job, b.value()));
  } else {
    FUZZ_CHECK(!a.error().message.empty());
    FUZZ_CHECK(a.error().message == b.error().message);
  }

  jobwatch::api::HttpResponse response;
  response.outcome = jobwatch::api::TransportOutcome::kCompleted;
  response.status = 200;
  response.body = padded;
  jobwatch::api::PollResult result =
      jobwatch::api::classifyResponse(std::move(response), parser, "job-1");
  using jobwatch::api::PollResultKind;
  FUZZ_CHECK(result.kind == PollResultKind::kOk || result.kind == PollResultKind::kParseError);
  if (result.kind == PollResultKind::kOk) {
    FUZZ_CHECK(a.ok() && result.job.has_value() && result.body == body);
    FUZZ_CHECK(!result.job->id || *result.job->id == "job-1");
  } else {
    FUZZ_CHECK(!result.detail.empty() && result.detail.size() < 1024);
  }
  return 0;
}
