// SPDX-License-Identifier: Apache-2.0
#include "api/result_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace jobwatch::api {
namespace {

constexpr mode_t kFileMode = 0640;
constexpr mode_t kDirMode = 0750;
constexpr std::string_view kTempSuffix = ".tmp";

std::string errnoText(int err) { return std::strerror(err); }

bool diskFull(int err) { return err == ENOSPC || err == EDQUOT; }

Status fsyncDir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return Error{"cannot open " + dir.string() + ": " + errnoText(errno), ErrorKind::kRuntime};
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    return Error{"cannot fsync " + dir.string() + ": " + errnoText(err), ErrorKind::kRuntime};
  return Ok{};
}

bool isTempName(std::string_view name) {
  return name.size() > kTempSuffix.size() + 1 && name.front() == '.' &&
         name.substr(name.size() - kTempSuffix.size()) == kTempSuffix;
}

}  // namespace

ResultFile::ResultFile(int fd, std::filesystem::path temp_path, std::filesystem::path final_path,
                       std::uint64_t max_size)
    : fd_(fd),
      temp_path_(std::move(temp_path)),
      final_path_(std::move(final_path)),
      max_size_(max_size) {}

ResultFile::~ResultFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

bool ResultFile::fail(ResultWriteFault fault, std::string detail) {
  if (fault_ == ResultWriteFault::kNone) {
    fault_ = fault;
    detail_ = std::move(detail);
  }
  return false;
}

bool ResultFile::failErrno(const char* what, int err) {
  return fail(diskFull(err) ? ResultWriteFault::kDiskFull : ResultWriteFault::kIoError,
              std::string(what) + " " + temp_path_.string() + ": " + errnoText(err));
}

bool ResultFile::write(const char* data, size_t size) {
  if (fault_ != ResultWriteFault::kNone || fd_ < 0) return false;
  if (size > max_size_ - std::min(bytes_, max_size_)) {
    return fail(ResultWriteFault::kTooLarge,
                "result over results.max_size (" + std::to_string(max_size_) + " bytes)");
  }
  for (size_t i = 0; first_ == 0 && i < size; ++i) {
    const char c = data[i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') first_ = c;
  }
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd_, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return failErrno("cannot write", errno);
    }
    done += static_cast<size_t>(n);
  }
  bytes_ += size;
  return true;
}

Status ResultFile::commit() {
  auto failed = [this]() -> Status { return Error{detail_, ErrorKind::kRuntime}; };
  if (fault_ != ResultWriteFault::kNone) return failed();
  if (first_ != '{' && first_ != '[') {
    fail(ResultWriteFault::kNotJson,
         bytes_ == 0 ? "result body is empty" : "result body is not a JSON document");
    return failed();
  }
  if (::fsync(fd_) != 0) {
    failErrno("cannot fsync", errno);
    return failed();
  }
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    failErrno("cannot close", errno);
    return failed();
  }
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    failErrno("cannot rename", errno);
    return failed();
  }
  committed_ = true;
  if (auto synced = fsyncDir(final_path_.parent_path()); !synced) {
    fail(ResultWriteFault::kIoError, synced.error().message);
    // The file is complete under its final name; only its directory entry
    // may not survive a power loss. Reported, not undone.
    return failed();
  }
  return Ok{};
}

Status ResultDir::prepare() const {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) {
    if (::mkdir(dir_.c_str(), kDirMode) != 0 && errno != EEXIST) {
      return Error{"cannot create results.dir " + dir_.string() + ": " + errnoText(errno),
                   ErrorKind::kRuntime};
    }
  }
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) {
    return Error{"cannot open results.dir " + dir_.string() + ": " + errnoText(errno),
                 ErrorKind::kRuntime};
  }
  std::vector<std::string> stale;
  while (const dirent* entry = ::readdir(d)) {
    if (isTempName(entry->d_name)) stale.emplace_back(entry->d_name);
  }
  ::closedir(d);
  for (const auto& name : stale) ::unlink((dir_ / name).c_str());
  return Ok{};
}

std::filesystem::path ResultDir::pathFor(std::string_view job_id) const {
  return dir_ / (std::string(job_id) + ".json");
}

Result<std::unique_ptr<ResultFile>> ResultDir::create(std::string_view job_id) const {
  std::string name = (dir_ / ("." + std::string(job_id) + ".XXXXXX")).string();
  name += kTempSuffix;
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  const auto suffix = static_cast<int>(kTempSuffix.size());
  int fd = ::mkostemps(buf.data(), suffix, O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && ::mkdir(dir_.c_str(), kDirMode) == 0) {
    // The directory went away, or a reload brought the first with_result
    // hook (prepare() runs at start only).
    std::copy(name.begin(), name.end(), buf.begin());
    fd = ::mkostemps(buf.data(), suffix, O_CLOEXEC);
  }
  if (fd < 0) {
    return Error{"cannot create a result file in " + dir_.string() + ": " + errnoText(errno),
                 ErrorKind::kRuntime};
  }
  std::filesystem::path temp(buf.data());
  if (::fchmod(fd, kFileMode) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return Error{"cannot set the mode of " + temp.string() + ": " + errnoText(err),
                 ErrorKind::kRuntime};
  }
  return std::make_unique<ResultFile>(fd, std::move(temp), pathFor(job_id), max_size_);
}

Status ResultDir::remove(std::string_view job_id) const {
  const auto path = pathFor(job_id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error{"cannot delete " + path.string() + ": " + errnoText(errno), ErrorKind::kRuntime};
  }
  return Ok{};
}

std::string_view describeFault(ResultWriteFault fault) {
  switch (fault) {
    case ResultWriteFault::kNone:
      return "none";
    case ResultWriteFault::kTooLarge:
      return "too large";
    case ResultWriteFault::kDiskFull:
      return "disk full";
    case ResultWriteFault::kIoError:
      return "I/O error";
    case ResultWriteFault::kNotJson:
      return "not JSON";
  }
  return "none";
}

}  // namespace jobwatch::api
