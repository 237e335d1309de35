// A job as the API last described it, and the parser for its JSON.
//
// The body is untrusted: any field may be missing or null, extra fields are
// ignored, `job_id` is accepted for `id`. `status` is required (a body
// without a usable status tells us nothing). Wrong types are parse errors.
//
// Thread-safety: JobResponseParser keeps a simdjson parser; one per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

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
