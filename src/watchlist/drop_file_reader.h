// SPDX-License-Identifier: Apache-2.0
// Reads and judges one file of the drop directory, without trusting it:
// never follows a symlink, never opens anything but a regular file, never
// reads a file that has another name (a hard link to a file elsewhere),
// checks all that again on the opened descriptor, reads at most
// kMaxDropFileBytes, and parses it as one all-or-nothing unit (see
// drop_dir_watcher.h). Reasons quote no more of the file than the parser's
// short, escaped excerpts. Moving the file is the watcher's business.
//
// Thread-safety: pure functions of their arguments and the file system.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "watchlist/watch_file.h"

namespace jobwatch::watchlist {

inline constexpr std::uintmax_t kMaxDropFileBytes = 16u << 20;

struct DropFileRead {
  enum class Outcome {
    kGone,      // no longer there: nothing to take
    kRejected,  // `reason` says why
    kAccepted,  // `entries` are its jobs
  };
  Outcome outcome = Outcome::kGone;
  std::string reason;
  std::vector<WatchEntry> entries;
  dev_t dev = 0;  // the file that was read, to recognise it in finish()
  ino_t ino = 0;
  std::size_t bytes_read = 0;
  std::string notice;  // kGone for an unexpected reason: for the log
};

// Reads `name` in the directory `dir_fd`; `shown` is its path as it
// appears in messages (control characters replaced).
DropFileRead readDropFile(int dir_fd, const std::string& name, const std::filesystem::path& shown);

// "file:line: message" lines, at most 50 and a count of the rest.
std::string formatDropIssues(const std::vector<WatchIssue>& issues);

}  // namespace jobwatch::watchlist
