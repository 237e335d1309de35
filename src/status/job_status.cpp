// SPDX-License-Identifier: Apache-2.0
#include "status/job_status.h"

#include <algorithm>

namespace jobwatch::status {

const std::vector<std::string>& builtinStatuses() {
  static const std::vector<std::string> kAll = {std::string(kUnknown),    std::string(kQueued),
                                                std::string(kProcessing), std::string(kCompleted),
                                                std::string(kFailed),     std::string(kNotFound),
                                                std::string(kTimedOut)};
  return kAll;
}

std::map<std::string, std::string> defaultAliases() {
  return {{"succeeded", "completed"}, {"starting", "queued"}};
}

std::vector<std::string> defaultExtraTerminal() { return {"cancelled"}; }

std::string toLower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  });
  return out;
}

StatusMapper::StatusMapper() : StatusMapper(defaultAliases(), defaultExtraTerminal()) {}

StatusMapper::StatusMapper(const std::map<std::string, std::string>& aliases,
                           const std::vector<std::string>& extra_terminal) {
  for (const auto& [from, to] : aliases) aliases_[toLower(from)] = toLower(to);
  terminal_ = {std::string(kCompleted), std::string(kFailed), std::string(kNotFound),
               std::string(kTimedOut)};
  for (const auto& s : extra_terminal) terminal_.insert(toLower(s));
}

MappedStatus StatusMapper::map(std::string_view raw) const {
  std::string name = toLower(raw);
  if (auto it = aliases_.find(name); it != aliases_.end()) name = it->second;
  MappedStatus out;
  out.terminal = terminal_.count(name) > 0;
  out.recognised = out.terminal || name == kQueued || name == kProcessing;
  out.name = std::move(name);
  return out;
}

bool StatusMapper::isTerminal(std::string_view canonical) const {
  return terminal_.count(std::string(canonical)) > 0;
}

std::vector<std::string> StatusMapper::knownStatuses() const {
  std::vector<std::string> out = builtinStatuses();
  for (const auto& s : terminal_) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  for (const auto& [from, to] : aliases_) {
    if (std::find(out.begin(), out.end(), to) == out.end()) out.push_back(to);
  }
  return out;
}

}  // namespace jobwatch::status
