// SPDX-License-Identifier: Apache-2.0
// The `poll` section: how often to ask about a job, when to give up, and
// which of the API's status words mean what.

#include <algorithm>
#include <set>

#include "config/names.h"
#include "config/sections.h"
#include "status/job_status.h"
#include "util/job_id.h"
#include "util/yaml_node.h"

namespace jobwatch::config {
namespace {

// Extra terminal statuses are a union with the built-in ones.
void readExtraTerminal(SchemaReader& r, const Value& v, std::vector<std::string>& terminal) {
  if (v.node.IsNull()) return;  // nothing beyond the defaults
  auto items = r.list(v, "status names");
  if (!items) return;
  for (auto& [word, iv] : *items) {
    auto lowered = lowercaseStatus(r, iv, word);
    if (lowered && std::find(terminal.begin(), terminal.end(), *lowered) == terminal.end()) {
      terminal.push_back(std::move(*lowered));
    }
  }
}

// Aliases are merged over the built-in ones.
void readAliases(SchemaReader& r, const Value& v, std::map<std::string, std::string>& aliases) {
  if (v.node.IsNull()) return;
  if (!v.node.IsMap()) {
    r.error(v, "expected a map of API word to status, e.g. {succeeded: completed}, got " +
                   yamlKind(v.node));
    return;
  }
  std::set<std::string> seen;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    const int key_line = yamlLine(it->first, v.line);
    if (!it->first.IsScalar()) {
      r.error(v.key, key_line, "alias keys must be words, got " + yamlKind(it->first));
      continue;
    }
    const std::string from = it->first.Scalar();
    Value iv{it->second, v.key + "." + displayName(from), key_line};
    auto lowered = lowercaseStatus(r, iv, from, "status word");
    if (!lowered) continue;
    auto to = r.text(iv, "a status name");
    if (!to) continue;
    auto to_lowered = lowercaseStatus(r, iv, *to);
    if (!to_lowered) continue;
    if (!seen.insert(*lowered).second) {
      r.error(iv, "duplicate alias for " + quoteForMessage(*lowered));
      continue;
    }
    aliases[*lowered] = std::move(*to_lowered);
  }
}

void readStrategy(SchemaReader& r, const Value& v, PollStrategyName& out) {
  auto s = r.text(v, "a strategy");
  if (!s) return;
  const std::string word = status::toLower(*s);
  if (word == "adaptive") {
    out = PollStrategyName::kAdaptive;
  } else if (word == "round_robin") {
    out = PollStrategyName::kRoundRobin;
  } else {
    r.error(v, "unknown strategy " + quoteForMessage(*s) + " (expected adaptive or round_robin)");
  }
}

void readOverdueAfter(SchemaReader& r, const Value& v, OverdueAfter& out) {
  if (v.node.IsScalar()) {
    const std::string word = status::toLower(v.node.Scalar());
    if (word == "auto" || word == "off") {
      out = {word == "auto" ? OverdueAfter::Mode::kAuto : OverdueAfter::Mode::kOff, Millis{0}};
      return;
    }
    if (word.empty() || word[0] < '0' || word[0] > '9') {
      r.error(v, "expected auto, off or a duration (e.g. 2h), got " + quoteForMessage(word));
      return;
    }
  }
  Millis after{0};
  r.positiveDuration(v, after);
  if (after > Millis{0}) out = {OverdueAfter::Mode::kFixed, after};
}

}  // namespace

std::optional<std::string> lowercaseStatus(SchemaReader& r, const Value& v, std::string_view word,
                                           std::string_view noun) {
  if (!isStatusWord(word)) {
    r.error(v, quoteForMessage(word) + " is not a valid " + std::string(noun) +
                   std::string(kStatusRule));
    return std::nullopt;
  }
  return status::toLower(word);
}

void parsePollSection(SchemaReader& r, const Value& section, PollConfig& poll) {
  r.walkMap(
      section,
      {
          {"interval",
           [&](const Value& v) {
             if (auto d = r.duration(v)) poll.interval = *d;
           }},
          {"jitter", [&](const Value& v) { r.fraction(v, poll.jitter, 0.0, 0.5); }},
          {"backoff_max", [&](const Value& v) { r.positiveDuration(v, poll.backoff_max); }},
          {"give_up_after", [&](const Value& v) { r.positiveDuration(v, poll.give_up_after); }},
          {"not_found_after",
           [&](const Value& v) { r.integerInRange(v, poll.not_found_after, 1, 1'000'000); }},
          {"status_aliases", [&](const Value& v) { readAliases(r, v, poll.status_aliases); }},
          {"extra_terminal_statuses",
           [&](const Value& v) { readExtraTerminal(r, v, poll.extra_terminal_statuses); }},
          {"strategy", [&](const Value& v) { readStrategy(r, v, poll.strategy); }},
          {"max_interval", [&](const Value& v) { r.positiveDuration(v, poll.max_interval); }},
          {"overdue_after", [&](const Value& v) { readOverdueAfter(r, v, poll.overdue_after); }},
      },
      "poll settings");
}

}  // namespace jobwatch::config
