// SPDX-License-Identifier: Apache-2.0
// The sections with a few plain settings each: watch, metrics, logging,
// shard and control (state: state_section.cpp).

#include <algorithm>
#include <cctype>

#include "config/listen_address.h"
#include "config/sections.h"
#include "status/job_status.h"
#include "util/job_id.h"
#include "util/unix_group.h"

namespace jobwatch::config {
namespace {

// One word of a fixed set (`choices`, for the message), in any case.
template <typename T>
void readChoice(SchemaReader& r, const Value& v, const std::string& what,
                bool (*parse)(std::string_view, T&), T& out, const std::string& choices) {
  auto s = r.text(v, "a " + what);
  if (s && !parse(status::toLower(*s), out)) {
    r.error(v, "unknown " + what + " " + quoteForMessage(*s) + " (expected " + choices + ")");
  }
}

}  // namespace

void parseWatchSection(SchemaReader& r, const Value& section, WatchConfig& watch) {
  r.walkMap(section,
            {
                {"file", [&](const Value& v) { r.optionalPath(v, watch.file); }},
                {"drop_dir", [&](const Value& v) { r.optionalPath(v, watch.drop_dir); }},
            },
            "watch settings");
}

void parseMetricsSection(SchemaReader& r, const Value& section, MetricsConfig& metrics) {
  auto listen = [&](const Value& v) {
    auto s = r.text(v, "host:port");
    if (!s) return;
    auto parsed = parseListen(*s);
    if (!parsed.ok()) {
      r.error(v, "invalid listen address " + quoteForMessage(*s) + ": " + parsed.error().message);
      return;
    }
    metrics.listen = *s;
  };
  r.walkMap(
      section,
      {
          {"listen", listen},
          {"per_job_series", [&](const Value& v) { r.boolean(v, metrics.per_job_series); }},
          {"per_job_limit", [&](const Value& v) { r.integerAtLeast(v, metrics.per_job_limit, 0); }},
      },
      "metrics settings");
}

void parseLoggingSection(SchemaReader& r, const Value& section, LoggingConfig& logging) {
  r.walkMap(section,
            {
                {"level",
                 [&](const Value& v) {
                   readChoice(r, v, "log level", parseLogLevel, logging.level,
                              "trace, debug, info, warn or error");
                 }},
                {"format",
                 [&](const Value& v) {
                   readChoice(r, v, "log format", parseLogFormat, logging.format, "text or json");
                 }},
            },
            "logging settings");
}

void parseShardSection(SchemaReader& r, const Value& section, ShardConfig& shard) {
  r.walkMap(section,
            {
                {"index", [&](const Value& v) { r.integerAtLeast(v, shard.index, 0); }},
                {"count", [&](const Value& v) { r.integerAtLeast(v, shard.count, 1); }},
            },
            "shard settings");
}

void parseControlSection(SchemaReader& r, const Value& section, ControlConfig& control) {
  // sockaddr_un::sun_path holds 108 bytes with the terminating NUL.
  constexpr size_t kMaxSocketPath = 107;
  auto socket = [&](const Value& v) {
    auto p = r.path(v);
    if (!p) return;
    if (p->string().size() > kMaxSocketPath) {
      r.error(v, "socket path is " + std::to_string(p->string().size()) +
                     " bytes long; a Unix socket path has at most " +
                     std::to_string(kMaxSocketPath));
      return;
    }
    control.socket = std::move(*p);
  };
  auto group = [&](const Value& v) {
    auto s = r.scalar(v, "a group name");  // "" (none) is allowed
    if (!s) return;
    const bool valid =
        s->size() <= 32 && std::all_of(s->begin(), s->end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
        });
    if (!valid || (!s->empty() && (*s)[0] == '-')) {
      r.error(v, "invalid group name " + quoteForMessage(*s) +
                     " (letters, digits, '_', '-', '.'; at most 32)");
      return;
    }
    if (!s->empty() && !unixGroupId(*s)) {
      r.error(v, "no group named " + quoteForMessage(*s) +
                     " on this machine (create it, e.g. groupadd " + *s +
                     ", or leave control.group empty)");
      return;
    }
    control.group = *s;
  };
  r.walkMap(section, {{"socket", socket}, {"group", group}}, "control settings");
}

}  // namespace jobwatch::config

namespace jobwatch::config {

std::optional<std::uint64_t> parseByteSize(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  std::uint64_t n = 0;
  for (size_t i = 0; i < digits; ++i) n = n * 10 + static_cast<std::uint64_t>(text[i] - '0');
  std::string unit(text.substr(digits));
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  struct Unit {
    std::string_view name;
    std::uint64_t bytes;
  };
  static constexpr Unit kUnits[] = {
      {"", 1},         {"B", 1},         {"KB", 1000},       {"KiB", 1024},
      {"MB", 1000000}, {"MiB", 1 << 20}, {"GB", 1000000000}, {"GiB", std::uint64_t{1} << 30},
  };
  for (const auto& u : kUnits) {
    if (unit == u.name) return n * u.bytes;
  }
  return std::nullopt;
}

void parseResultsSection(SchemaReader& r, const Value& section, ResultsConfig& results) {
  auto size = [&](const Value& v) {
    auto s = r.text(v, "a size such as 64MiB");
    if (!s) return;
    auto bytes = parseByteSize(*s);
    if (!bytes || *bytes == 0) {
      r.error(v, "invalid size " + quoteForMessage(*s) +
                     " (expected a positive number with a unit: B, KiB, MiB, GiB, KB, MB, GB)");
      return;
    }
    results.max_size = *bytes;
  };
  r.walkMap(
      section,
      {
          {"dir",
           [&](const Value& v) {
             if (auto p = r.path(v)) results.dir = std::move(*p);
           }},
          {"max_size", size},
          {"give_up_after", [&](const Value& v) { r.positiveDuration(v, results.give_up_after); }},
      },
      "results settings");
}

}  // namespace jobwatch::config
