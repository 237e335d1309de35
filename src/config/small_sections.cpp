// SPDX-License-Identifier: Apache-2.0
// The sections with a few plain settings each: watch, state, metrics,
// logging and shard.

#include "config/listen_address.h"
#include "config/sections.h"
#include "status/job_status.h"
#include "util/job_id.h"

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

void parseStateSection(SchemaReader& r, const Value& section, StateConfig& state) {
  r.walkMap(
      section,
      {
          {"path",
           [&](const Value& v) {
             if (auto p = r.path(v)) state.path = std::move(*p);
           }},
          {"forget_after", [&](const Value& v) { r.positiveDuration(v, state.forget_after); }},
      },
      "state settings");
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

}  // namespace jobwatch::config
