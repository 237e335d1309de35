// SPDX-License-Identifier: Apache-2.0
// A job as the API last described it, and the parser for its JSON.
//
// The body is untrusted: any field may be missing or null, extra fields are
// ignored (but must be valid JSON, nested at most 128 deep), `job_id` is
// accepted for `id` (`id` wins when both are given). `status` is required and
// must be a non-empty string (a body without a usable status tells us
// nothing). A non-string `id`/`job_id` is a parse error (we could not tell
// which job the body describes); any other optional field of the wrong type
// reads as absent. With duplicate keys the last one wins. Strings over
// 64 KiB (status: 256 bytes), truncated JSON, trailing content and invalid
// UTF-8 are parse errors. The error for a non-JSON body shows only its size
// and a leading markup tag name such as "<html>", never its text: an error
// page may echo the request's headers, API key included.
//
// Thread-safety: JobResponseParser keeps a simdjson parser; one per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "status/job_facts.h"
#include "util/result.h"

namespace jobwatch::api {

struct JobSnapshot {
  std::optional<std::string> id;
  std::string status_raw;  // as sent, e.g. "PROCESSING"
  std::optional<std::string> type;
  std::optional<std::string> created_at;
  std::optional<std::string> updated_at;
  std::optional<std::string> pdf_name;
  std::optional<std::string> pdf_hash;
  std::optional<std::string> user_id;
  std::optional<std::string> error;

  // The facts the daemon keeps (absent and null fields become empty).
  status::JobFacts facts() const;
};

class JobResponseParser {
 public:
  JobResponseParser();
  ~JobResponseParser();
  JobResponseParser(const JobResponseParser&) = delete;
  JobResponseParser& operator=(const JobResponseParser&) = delete;

  // Parses a job body. `body` must have capacity() >= size() + 64 (the
  // transport guarantees this); otherwise it is copied into padded storage.
  [[nodiscard]] Result<JobSnapshot> parse(const std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobwatch::api
