// The sections with a few plain settings each: watch, state, metrics,
// logging and shard.

#include "config/listen_address.h"
#include "config/sections.h"
#include "status/job_status.h"
#include "util/job_id.h"

namespace jobwatch::config {

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
  auto level = [&](const Value& v) {
    auto s = r.text(v, "a log level");
    if (s && !parseLogLevel(status::toLower(*s), logging.level)) {
      r.error(v, "unknown log level " + quoteForMessage(*s) +
                     " (expected trace, debug, info, warn or error)");
    }
  };
  auto format = [&](const Value& v) {
    auto s = r.text(v, "a log format");
    if (s && !parseLogFormat(status::toLower(*s), logging.format)) {
      r.error(v, "unknown log format " + quoteForMessage(*s) + " (expected text or json)");
    }
  };
  r.walkMap(section, {{"level", level}, {"format", format}}, "logging settings");
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
