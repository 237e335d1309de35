// SPDX-License-Identifier: Apache-2.0
// DropDirWatcher: takes job lists that other programs drop into a directory
// (SPEC "Watch list"). Files are taken only once complete: closed after
// writing (IN_CLOSE_WRITE) or renamed in (IN_MOVED_TO); names starting with
// '.' or ending in ".tmp" are ignored. A taken file moves to .processed/; a
// bad one (unparseable, bad IDs, a symlink, not a regular file, a file with
// more than one hard link, over 16 MiB) to .rejected/ with a "<name>.reason" file beside it naming
// the line and problem. Files present at start are taken too. The watcher survives the directory
// being removed and recreated, and inotify queue overflow (it rescans).
//
// Use: poll() on fd(); when readable, call takeReady(). Also call
// takeReady() periodically (it rescans when needed, e.g. after overflow or
// a recreated directory, and handles files whose writers never closed them
// once they have been quiet for `settle`). nextCheckIn() says how long the
// poll() may sleep; morePending() says to call again at once.
//
// When is a file complete?
//  - IN_CLOSE_WRITE (the last writer closed it) or IN_MOVED_TO (renamed in):
//    taken at once. A writer that writes in chunks with pauses is not taken
//    before it closes.
//  - Created while we watch but never opened (hard link, O_TMPFILE+linkat):
//    taken once no open follows its creation for a short grace (100 ms;
//    5 s while it is empty or still has another name, so that a writer
//    that links its file in and then removes its own name is not refused
//    for the file's second link).
//    Created and opened: taken only at its writer's close; a writer that
//    holds its file open forever keeps it pending.
//  - Symlinks, FIFOs, sockets, devices, directories are complete when they
//    appear: rejected at once, never opened or followed.
//  - Found by a scan (at open(), after inotify queue overflow, after the
//    directory was recreated): nobody can tell portably whether some process
//    still has such a file open for writing. It is taken when its mtime is
//    at least `settle` old, or once it has stayed unchanged (inode, size,
//    mtime, ctime) for `settle` since we first saw it (protects against
//    mtimes in the future); a later IN_CLOSE_WRITE takes it sooner. With
//    settle 0 every file found by a scan is taken at once.
//
// A file is one unit, all or nothing: if any entry has a problem (bad ID,
// bad label, invalid YAML) the whole file is rejected and no job of it is
// returned; its .reason lists every problem as "file:line: message" (at
// most 50 lines). A file with no jobs at all is rejected ("no jobs").
//
// Moves never overwrite: when .processed/<name> (or .rejected/<name> or its
// .reason) exists, a suffix ".1", ".2", ... (later a timestamp) is added.
// The same name dropped again later is a new file and is taken again.
// Nothing in .processed/ or .rejected/ is ever deleted; that is the
// operator's (e.g. systemd-tmpfiles) business.
//
// Work per takeReady() is bounded (kMaxDropFilesPerTake files, and it stops
// after reading 4 MiB); results come in file-name order.
//
// Time (settling, grace, retries) comes from the injected Clock; mtimes are
// compared with its wall time.
//
// Thread-safety: one thread. The clock must outlive the watcher.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/clock.h"
#include "util/result.h"
#include "watchlist/drop_file_reader.h"
#include "watchlist/watch_file.h"

namespace jobwatch::watchlist {

// How long a file found by a scan must have been quiet before it is taken.
inline constexpr std::chrono::milliseconds kDefaultDropSettle{2000};
// Files handled by one takeReady() call at most.
inline constexpr std::size_t kMaxDropFilesPerTake = 1000;

struct DropFileTaken {
  std::filesystem::path file;       // where it was (top of the drop directory)
  std::vector<WatchEntry> entries;  // valid entries, when accepted
  bool rejected = false;
  std::string reason;  // why rejected (also in the .reason file)
  // Where it is now: in .rejected/ for a rejected file (empty when it could
  // not be moved; a notice says why). An accepted file stays where it is
  // until finish(): its jobs must be recorded durably first, so a crash in
  // between takes the file again instead of losing it.
  std::filesystem::path moved_to;
};

class DropDirWatcher {
 public:
  // Creates the directory (its last component, mode 0750) and its
  // .processed/ and .rejected/ (0750) if missing. Fails naming the
  // directory when it cannot be watched or created. `settle`: see above.
  // Without a clock: the process-wide system clock.
  [[nodiscard]] static Result<std::unique_ptr<DropDirWatcher>> open(
      const std::filesystem::path& dir, std::chrono::milliseconds settle = kDefaultDropSettle);
  [[nodiscard]] static Result<std::unique_ptr<DropDirWatcher>> open(
      const std::filesystem::path& dir, std::chrono::milliseconds settle, const Clock& clock);
  ~DropDirWatcher();
  DropDirWatcher(const DropDirWatcher&) = delete;
  DropDirWatcher& operator=(const DropDirWatcher&) = delete;

  int fd() const;  // the inotify descriptor, for poll()
  // Reads pending events and takes every complete file, in name order, at
  // most kMaxDropFilesPerTake of them. If the directory vanished, recreates
  // it (same mode, with .processed/ and .rejected/), at most once a second.
  std::vector<DropFileTaken> takeReady();
  // Moves an accepted file to .processed/ once its jobs are recorded. A
  // file replaced under the same name meanwhile is not moved; it is taken
  // again as the new file it is. Until finish(), the file is not returned
  // again (a later restart takes it again: adding a job twice is harmless).
  [[nodiscard]] Result<std::filesystem::path> finish(const DropFileTaken& taken);
  // True when the last takeReady() stopped at its bound: call again now.
  bool morePending() const;
  // How long until takeReady() has time-based work (a file settling, a
  // vanished directory to retry); nullopt when only inotify events on fd()
  // can bring new work; zero when morePending().
  std::optional<std::chrono::milliseconds> nextCheckIn() const;
  // Things an operator should see in the log, oldest first, drained by the
  // call: the directory vanished or was recreated, a rescan after inotify
  // queue overflow, a file that could not be moved or read. Bounded.
  std::vector<std::string> takeNotices();

 private:
  struct Impl;
  explicit DropDirWatcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobwatch::watchlist
