// SPDX-License-Identifier: Apache-2.0
// The watch-list schema shared by the watch file and drop files:
//
//   account: team-b          # optional: the account of every entry without its own
//   jobs:
//     - b2094b38-e432-44b6-a5d0-67bed07d5de1
//     - id: 7d1f0c2a-5b7e-4a51-9d0e-2b0f5d3c9e11
//       labels: {customer: acme, batch: "2026-11"}
//       account: team-b        # optional (SPEC "Accounts")
//
// and the plain-text form (one ID per line, '#' comments; no accounts: every
// entry belongs to the default account). Every rejected entry is reported
// with file and line; valid entries are still returned so a caller can
// choose to be lenient or strict. Duplicate IDs of one account are merged
// (labels of later entries win per key); the same ID under two accounts is
// an issue naming both lines (the first entry stays). Account names are
// checked against ^[a-z0-9_-]{1,32}$ here, whether they exist is the
// config's business (--check-config, the daemon). An entry naming another
// account than the top-level `account:` is rejected; so, when the top-level
// `account:` itself is invalid, is every entry of the file (no job is ever
// taken under the wrong account). `account: default` is kept as written:
// "" and "default" are the same account (util/account_name.h, sameAccount).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "util/result.h"

namespace jobwatch::watchlist {

struct WatchEntry {
  std::string id;
  std::map<std::string, std::string> labels;
  // `{}`: entries written {id, labels} (tests, callers) stay warning-free
  // under -Wmissing-field-initializers.
  std::string account{};  // "" = not named (the default account)
  int line = 0;           // 1-based line in its file, 0 unknown
};

struct WatchIssue {
  std::filesystem::path file;
  int line = 0;  // 1-based; 0 when the file as a whole is at fault
  std::string message;
  std::string toString() const;  // "file:line: message"
};

struct WatchParse {
  std::vector<WatchEntry> entries;  // in first-seen order, duplicates merged
  std::vector<WatchIssue> issues;
};

// Label keys must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$ (they become
// environment variable names JOBWATCH_LABEL_<KEY>); values are bounded to
// 1024 bytes of printable text. A job has at most 64 labels of at most
// 16 KiB together (util/label_limits.h), also after its duplicate entries
// are merged: an entry over these caps is rejected whole, with its line.
WatchParse parseWatchYaml(const std::string& text, const std::filesystem::path& source);
WatchParse parseWatchText(const std::string& text, const std::filesystem::path& source);
// Picks the format by `source`'s extension (*.txt, any case, is text; else
// YAML) and parses `text`.
WatchParse parseWatchContent(const std::string& text, const std::filesystem::path& source);
// Reads a file and picks the format by extension (*.txt is text, else YAML).
WatchParse loadWatchFile(const std::filesystem::path& path);

}  // namespace jobwatch::watchlist
