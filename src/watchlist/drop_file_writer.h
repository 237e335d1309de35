// SPDX-License-Identifier: Apache-2.0
// The writing side of the drop directory, for `jobwatchd add`: one YAML
// watch file with the given entries, written so that a DropDirWatcher takes
// it exactly once, whole, under its final name.
//
// Thread-safety: a pure function of its arguments and the file system.
#pragma once

#include <filesystem>
#include <vector>

#include "util/clock.h"
#include "util/result.h"
#include "watchlist/watch_file.h"

namespace jobwatch::watchlist {

// Writes one YAML watch file with `entries` into `dir` atomically (a
// dot-named temp file, fsync, rename, fsync of the directory) and returns its
// final path, dir/add-<UTC time>-<pid>-<random>.yaml, mode 0640 (the time
// from `clock`, the system clock when none is given). IDs and labels must
// already be validated; the text is checked to parse back to exactly
// `entries` before anything is written, so a bad entry is an error here
// rather than a rejected file later. No entries: an error. Run as root on a
// directory owned by someone else (the service's user, e.g. systemd
// DynamicUser=), the file is given to the directory's owner and group.
// Accounts: when every entry names the same account, the file carries it
// as its top-level `account:`; otherwise each entry that names one has its
// own `account:`. WatchEntry::line is ignored.
[[nodiscard]] Result<std::filesystem::path> writeDropFile(const std::filesystem::path& dir,
                                                          const std::vector<WatchEntry>& entries);
[[nodiscard]] Result<std::filesystem::path> writeDropFile(const std::filesystem::path& dir,
                                                          const std::vector<WatchEntry>& entries,
                                                          const Clock& clock);

}  // namespace jobwatch::watchlist
