// SPDX-License-Identifier: Apache-2.0
// WatchFileMonitor: notices when the watch file changes. Editors replace
// files by rename, so the file's directory is watched (IN_CLOSE_WRITE,
// IN_MOVED_TO, IN_CREATE, IN_DELETE, IN_MOVED_FROM for the file's name).
// changed() drains events and says whether the file was written, replaced
// or removed since the last call; it never blocks. An inotify queue overflow
// counts as a change, and so does the directory itself vanishing (the watch
// is re-added on later calls, at most once a second by the injected clock,
// and its return counts as a change too). When the watch file is a symlink,
// only the link's own directory is watched: a change of the target
// elsewhere is not noticed (SIGHUP is).
//
// Thread-safety: one thread. The clock must outlive the monitor.
#pragma once

#include <filesystem>
#include <memory>

#include "util/clock.h"
#include "util/result.h"

namespace jobwatch::watchlist {

class WatchFileMonitor {
 public:
  // Without a clock: the process-wide system clock.
  [[nodiscard]] static Result<std::unique_ptr<WatchFileMonitor>> open(
      const std::filesystem::path& file);
  [[nodiscard]] static Result<std::unique_ptr<WatchFileMonitor>> open(
      const std::filesystem::path& file, const Clock& clock);
  ~WatchFileMonitor();
  WatchFileMonitor(const WatchFileMonitor&) = delete;
  WatchFileMonitor& operator=(const WatchFileMonitor&) = delete;

  int fd() const;
  bool changed();

 private:
  struct Impl;
  explicit WatchFileMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobwatch::watchlist
