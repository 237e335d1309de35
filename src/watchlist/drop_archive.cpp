// SPDX-License-Identifier: Apache-2.0
#include "watchlist/drop_archive.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace jobwatch::watchlist {
namespace {

constexpr int kNumericSuffixes = 20;  // name.1 ... name.20, then a timestamp
constexpr int kMaxMoveAttempts = 40;
constexpr std::size_t kNameMax = NAME_MAX;
constexpr mode_t kSubdirMode = 0750;
constexpr mode_t kReasonFileMode = 0640;
constexpr const char* kProcessedDir = ".processed";
constexpr const char* kRejectedDir = ".rejected";
constexpr const char* kReasonSuffix = ".reason";

// Cuts `name` so that name + suffix fits NAME_MAX.
std::string withSuffix(const std::string& name, const std::string& suffix, std::size_t reserve) {
  const std::size_t room = kNameMax - std::min(kNameMax, suffix.size() + reserve);
  return (name.size() > room ? name.substr(0, room) : name) + suffix;
}

}  // namespace

DropArchive::DropArchive(std::filesystem::path dir, const Clock& clock)
    : dir_(std::move(dir)), clock_(&clock) {}

Status DropArchive::open(int dir_fd) {
  dir_fd_ = dir_fd;
  Fd processed;
  Fd rejected;
  Status s = openSubdir(kProcessedDir, processed);
  if (s.ok()) s = openSubdir(kRejectedDir, rejected);
  if (!s.ok()) {
    dir_fd_ = -1;
    return s;
  }
  processed_ = std::move(processed);
  rejected_ = std::move(rejected);
  return Ok{};
}

void DropArchive::close() {
  processed_.reset();
  rejected_.reset();
  dir_fd_ = -1;
}

Status DropArchive::openSubdir(const char* name, Fd& out) const {
  if (::mkdirat(dir_fd_, name, kSubdirMode) != 0 && errno != EEXIST) {
    return Error{"cannot create " + where(name) + ": " + errnoText(errno)};
  }
  // O_NOFOLLOW: whoever can write the drop directory must not be able to
  // send our moves elsewhere by replacing .processed with a symlink.
  Fd fd(::openat(dir_fd_, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    std::string hint = (err == ELOOP || err == ENOTDIR) ? " (it must be a directory)" : "";
    return Error{"cannot open " + where(name) + ": " + errnoText(err) + hint};
  }
  out = std::move(fd);
  return Ok{};
}

Result<std::filesystem::path> DropArchive::keepProcessed(const std::string& name) {
  auto moved = moveInto(processed_, kProcessedDir, name, /*with_reason=*/false);
  if (!moved.ok()) return moved.error();
  return dir_ / kProcessedDir / moved.value();
}

Result<std::filesystem::path> DropArchive::keepRejected(const std::string& name,
                                                        const std::string& reason,
                                                        std::string& reason_problem) {
  auto moved = moveInto(rejected_, kRejectedDir, name, /*with_reason=*/true);
  if (!moved.ok()) return moved.error();
  if (auto s = writeReason(moved.value(), reason); !s.ok()) reason_problem = s.error().message;
  return dir_ / kRejectedDir / moved.value();
}

// Moves top-level `name` into `sub` under a free name (and, for .rejected,
// a free "<name>.reason"). Returns the final name.
Result<std::string> DropArchive::moveInto(Fd& sub, const char* sub_name, const std::string& name,
                                          bool with_reason) {
  const std::size_t reserve = with_reason ? std::strlen(kReasonSuffix) : 0;
  bool reopened = false;
  for (int attempt = 0; attempt < kMaxMoveAttempts; ++attempt) {
    std::string suffix;
    if (attempt > 0 && attempt <= kNumericSuffixes) {
      suffix = "." + std::to_string(attempt);
    } else if (attempt > kNumericSuffixes) {
      suffix = "." + utcStamp(clock_->wallNow()) + "-" + randomHex(4);
    }
    const std::string candidate = withSuffix(name, suffix, reserve);
    struct stat st {};
    if (with_reason &&
        ::fstatat(sub.get(), (candidate + kReasonSuffix).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      continue;
    }
    if (renameNoReplace(dir_fd_, name, sub.get(), candidate) == 0) return candidate;
    const int err = errno;
    if (err == EEXIST) continue;
    if (err == ENOENT && !reopened &&
        ::fstatat(dir_fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      // The file is still there, so our subfolder was removed: recreate it.
      reopened = true;
      if (auto s = openSubdir(sub_name, sub); !s.ok()) return s.error();
      --attempt;
      continue;
    }
    return Error{"cannot move " + dir_.string() + "/" + printableName(name) + " into " +
                 where(sub_name) + ": " + errnoText(err)};
  }
  return Error{"cannot move " + dir_.string() + "/" + printableName(name) + " into " +
               where(sub_name) + ": no free name"};
}

Status DropArchive::writeReason(const std::string& final_name, const std::string& reason) {
  const std::string tmp = ".reason-" + std::to_string(::getpid()) + "-" + randomHex(8) + ".tmp";
  const std::string target = final_name + kReasonSuffix;
  Fd f(::openat(rejected_.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                kReasonFileMode));
  bool ok = f.valid() && writeAll(f.get(), reason + "\n") && f.close() == 0 &&
            renameNoReplace(rejected_.get(), tmp, rejected_.get(), target) == 0;
  if (ok) return Ok{};
  const int err = errno;
  ::unlinkat(rejected_.get(), tmp.c_str(), 0);
  return Error{"cannot write " + where(kRejectedDir) + "/" + printableName(target) + ": " +
               errnoText(err)};
}

}  // namespace jobwatch::watchlist
