// SPDX-License-Identifier: Apache-2.0
// Result files (SPEC "Results"): a job's result is streamed into a
// temporary file in results.dir (".<job_id>.<random>.tmp", mode 0640),
// never held whole in memory, capped at results.max_size, and only once
// complete fsynced and renamed to "<job_id>.json" (and the directory
// fsynced). A process that dies mid-download leaves at most a temporary
// file, which ResultDir::prepare() removes at the next start: there is
// never a partial file under the final name.
//
// Thread-safety: a ResultFile belongs to the thread that writes it (the
// scheduler thread, through the transport's write callback). ResultDir is
// immutable after construction except setMaxSize() (atomic, any thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "api/http_transport.h"
#include "util/result.h"

namespace jobwatch::api {

// Why a result could not be written.
enum class ResultWriteFault {
  kNone,
  kTooLarge,  // over results.max_size
  kDiskFull,  // ENOSPC / EDQUOT: retried, the hook waits
  kIoError,   // any other file error
  kNotJson,   // the body is not a JSON document (empty, or not { or [)
};

class ResultFile final : public BodySink {
 public:
  // Takes an open, empty temporary file `fd` at `temp_path`.
  ResultFile(int fd, std::filesystem::path temp_path, std::filesystem::path final_path,
             std::uint64_t max_size);
  // Removes the temporary file unless commit() succeeded.
  ~ResultFile() override;
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  // Appends a chunk; false (and fault() says why) once over max_size or on
  // a write error. Nothing is written after the first refusal.
  bool write(const char* data, size_t size) override;
  // fsync, rename to the final name, fsync the directory. An error leaves
  // no final file behind (fault() says why).
  [[nodiscard]] Status commit();

  ResultWriteFault fault() const { return fault_; }
  const std::string& faultDetail() const { return detail_; }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t maxSize() const { return max_size_; }
  const std::filesystem::path& finalPath() const { return final_path_; }
  const std::filesystem::path& tempPath() const { return temp_path_; }

 private:
  bool fail(ResultWriteFault fault, std::string detail);
  bool failErrno(const char* what, int err);

  int fd_ = -1;
  std::filesystem::path temp_path_;
  std::filesystem::path final_path_;
  std::uint64_t max_size_ = 0;
  std::uint64_t bytes_ = 0;
  char first_ = 0;  // first non-blank byte seen
  bool committed_ = false;
  ResultWriteFault fault_ = ResultWriteFault::kNone;
  std::string detail_;
};

class ResultDir {
 public:
  ResultDir(std::filesystem::path dir, std::uint64_t max_size)
      : dir_(std::move(dir)), max_size_(max_size) {}

  // Creates the directory (0750) when missing and removes temporary files
  // left by a process that died. An error names the directory.
  [[nodiscard]] Status prepare() const;
  // A fresh temporary file for `job_id` (a valid job ID); creates the
  // directory if it is missing. A disk-full or I/O error is a runtime error.
  [[nodiscard]] Result<std::unique_ptr<ResultFile>> create(std::string_view job_id) const;
  // results.dir/<job_id>.json
  std::filesystem::path pathFor(std::string_view job_id) const;
  // Deletes a forgotten job's result; a missing file is fine.
  [[nodiscard]] Status remove(std::string_view job_id) const;

  const std::filesystem::path& dir() const { return dir_; }
  std::uint64_t maxSize() const { return max_size_.load(std::memory_order_relaxed); }
  // Any thread (a reload; every engine thread reads it).
  void setMaxSize(std::uint64_t max_size) { max_size_.store(max_size, std::memory_order_relaxed); }

 private:
  std::filesystem::path dir_;
  std::atomic<std::uint64_t> max_size_{0};
};

// The metric-free name of a fault, for logs ("too large", "disk full", ...).
std::string_view describeFault(ResultWriteFault fault);

}  // namespace jobwatch::api
