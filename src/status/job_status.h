// SPDX-License-Identifier: Apache-2.0
// Canonical job statuses and the mapping from the API's words to them.
//
// The API mixes case and other endpoints use other words; everything the
// daemon says (logs, metrics, hook environment) uses lowercase canonical
// names. StatusMapper applies poll.status_aliases and
// poll.extra_terminal_statuses; anything else is kept lowercased and treated
// as non-terminal.
//
// Thread-safety: StatusMapper is immutable after construction.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace jobwatch::status {

inline constexpr std::string_view kUnknown = "unknown";
inline constexpr std::string_view kQueued = "queued";
inline constexpr std::string_view kProcessing = "processing";
inline constexpr std::string_view kCompleted = "completed";
inline constexpr std::string_view kFailed = "failed";
inline constexpr std::string_view kNotFound = "not_found";
inline constexpr std::string_view kTimedOut = "timed_out";

// Statuses every deployment knows, in display order.
const std::vector<std::string>& builtinStatuses();

// Built-in aliases and extra terminal statuses (SPEC defaults).
std::map<std::string, std::string> defaultAliases();
std::vector<std::string> defaultExtraTerminal();

std::string toLower(std::string_view s);

struct MappedStatus {
  std::string name;  // canonical, lowercase
  bool terminal = false;
  bool recognised = true;  // false: an unknown word, kept as-is
};

class StatusMapper {
 public:
  StatusMapper();  // SPEC defaults
  StatusMapper(const std::map<std::string, std::string>& aliases,
               const std::vector<std::string>& extra_terminal);

  MappedStatus map(std::string_view raw) const;
  bool isTerminal(std::string_view canonical) const;
  // Every status this mapper can produce knowingly (for zero-filled metrics).
  std::vector<std::string> knownStatuses() const;

 private:
  std::unordered_map<std::string, std::string> aliases_;
  std::unordered_set<std::string> terminal_;
};

}  // namespace jobwatch::status
