// SPDX-License-Identifier: Apache-2.0
// Fuzzes the watch-list parsers (watchlist::parseWatchYaml for the watch
// file and YAML drop files, parseWatchText for *.txt drop files): every ID
// that comes out is valid, every problem names the file and a line.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "util/account_name.h"
#include "util/job_id.h"
#include "watchlist/watch_file.h"

namespace {

void checkParse(const jobwatch::watchlist::WatchParse& parsed, size_t lines) {
  for (const auto& entry : parsed.entries) {
    FUZZ_CHECK(jobwatch::isValidJobId(entry.id));
    FUZZ_CHECK(entry.account.empty() || jobwatch::isAccountName(entry.account));
    FUZZ_CHECK(entry.line >= 1 && static_cast<size_t>(entry.line) <= lines + 1);
    for (const auto& [key, value] : entry.labels) {
      FUZZ_CHECK(!key.empty() && key.size() <= 64);
      FUZZ_CHECK(value.size() <= 1024);
    }
  }
  for (const auto& issue : parsed.issues) {
    FUZZ_CHECK(issue.line >= 0 && static_cast<size_t>(issue.line) <= lines + 1);
    FUZZ_CHECK(issue.toString().starts_with(issue.file.string()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  size_t lines = 1;
  for (char c : text) lines += c == '\n' || c == '\r';
  checkParse(jobwatch::watchlist::parseWatchYaml(text, "/var/lib/jobwatchd/drop/f.yaml"), lines);
  checkParse(jobwatch::watchlist::parseWatchText(text, "/var/lib/jobwatchd/drop/f.txt"), lines);
  return 0;
}
