// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the watchlist tests that work on real files: writing
// and reading files, listing a drop directory, waiting on a descriptor, and
// entries whose values are awkward for YAML.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "watchlist/watch_file.h"

namespace jobwatch::watchlist::test_support {

namespace fs = std::filesystem;
using jobwatch::testing_support::TempDir;

inline void writeFile(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary);
  out << content;
  out.close();
  ASSERT_TRUE(out) << p;
}

inline std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> ids(const std::vector<WatchEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

// Names at the top of `dir`, subfolders .processed/.rejected excluded.
inline std::vector<std::string> topLevel(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n != ".processed" && n != ".rejected") out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline bool waitReadable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

inline std::vector<WatchEntry> awkwardEntries() {
  return {
      {"b2094b38-e432-44b6-a5d0-67bed07d5de1", {}},
      {"null",
       {{"quote", "say \"hi\" and 'bye'"},
        {"colon", "key: value, [a] {b}"},
        {"unicode", "Žluťoučký kůň 🐴 日本"},
        {"lead", "  leading and trailing  "},
        {"yes_", "yes"},
        {"nul", "null"},
        {"tilde", "~"},
        {"num", "0012"},
        {"float", "1e3"},
        {"hash", "# not a comment"},
        {"dash", "- not a list"},
        {"star", "*alias"},
        {"backslash", "C:\\path\\n"},
        {"empty", ""}}},
      {"123", {{"true", "false"}}},
      {"-", {}},
      {"-x_", {{"NULL", "No"}}},
  };
}

}  // namespace jobwatch::watchlist::test_support
