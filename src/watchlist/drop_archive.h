// SPDX-License-Identifier: Apache-2.0
// DropArchive: where the drop directory's taken files go. Accepted files
// move to .processed/, rejected ones to .rejected/ with "<name>.reason"
// beside them. Moves never overwrite: a taken name gets a suffix ".1" ...
// ".20", then a timestamp from the injected clock. Both subfolders are
// opened O_NOFOLLOW and recreated if someone removes them.
//
// Thread-safety: one thread (the DropDirWatcher's). The clock must outlive
// the archive.
#pragma once

#include <filesystem>
#include <string>

#include "util/clock.h"
#include "util/result.h"
#include "watchlist/posix_io.h"

namespace jobwatch::watchlist {

class DropArchive {
 public:
  DropArchive(std::filesystem::path dir, const Clock& clock);

  // Creates (0750) and opens .processed/ and .rejected/ in `dir_fd`, the
  // drop directory, which the caller keeps open until close().
  [[nodiscard]] Status open(int dir_fd);
  void close();

  // Moves the top-level `name` into .processed/; returns where it went.
  [[nodiscard]] Result<std::filesystem::path> keepProcessed(const std::string& name);
  // Moves the top-level `name` into .rejected/ and writes `reason` beside
  // it; returns where it went. `reason_problem` is set when the file moved
  // but its .reason could not be written.
  [[nodiscard]] Result<std::filesystem::path> keepRejected(const std::string& name,
                                                           const std::string& reason,
                                                           std::string& reason_problem);

 private:
  Status openSubdir(const char* name, Fd& out) const;
  Result<std::string> moveInto(Fd& sub, const char* sub_name, const std::string& name,
                               bool with_reason);
  Status writeReason(const std::string& final_name, const std::string& reason);
  std::string where(const char* sub) const { return (dir_ / sub).string(); }

  std::filesystem::path dir_;
  const Clock* clock_;
  int dir_fd_ = -1;
  Fd processed_;
  Fd rejected_;
};

}  // namespace jobwatch::watchlist
