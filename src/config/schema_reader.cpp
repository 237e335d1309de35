// SPDX-License-Identifier: Apache-2.0
#include "config/schema_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "config/names.h"
#include "config/spelling.h"
#include "status/job_status.h"
#include "util/job_id.h"
#include "util/yaml_node.h"

namespace jobwatch::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string quoteBackticks(std::string_view name) {
  std::string shown = displayName(name);
  return shown.front() == '"' ? shown : "`" + shown + "`";
}

std::string unknownKeyMessage(const std::string& name, const std::string& map_key,
                              const std::vector<std::string_view>& known) {
  std::string where = map_key.empty() ? "at the top level" : "in " + map_key;
  std::string message = "unknown key " + quoteBackticks(name) + " " + where;
  if (auto guess = closestWord(name, known)) {
    message += " (did you mean `" + std::string(*guess) + "`?)";
  } else {
    message += " (known: " + joinWords(known) + ")";
  }
  return message;
}

}  // namespace

SchemaReader::SchemaReader(fs::path source) : source_(std::move(source)) {
  std::error_code ec;
  fs::path absolute = fs::absolute(source_, ec);
  base_dir_ = ec ? source_.parent_path() : absolute.parent_path();
}

// --- reporting ---------------------------------------------------------------

void SchemaReader::error(std::string key, int line, std::string message) {
  issues_.push_back(ConfigIssue{source_, line, std::move(key), std::move(message)});
}

void SchemaReader::error(const Value& v, std::string message) {
  error(v.key, valueLine(v), std::move(message));
  bad_.insert(v.key);
}

void SchemaReader::warning(std::string key, int line, std::string message) {
  warnings_.push_back(ConfigIssue{source_, line, std::move(key), std::move(message)});
}

int SchemaReader::valueLine(const Value& v) {
  // A null value's mark points past it (often at the next line).
  return v.node.IsNull() ? v.line : yamlLine(v.node, v.line);
}

int SchemaReader::lineFor(const std::string& key) const {
  auto it = lines_.find(key);
  return it == lines_.end() ? 0 : it->second;
}

ConfigLoad SchemaReader::finish(Config config) {
  // Checks that span keys run last; report in file order all the same.
  auto by_line = [](const ConfigIssue& a, const ConfigIssue& b) { return a.line < b.line; };
  std::stable_sort(issues_.begin(), issues_.end(), by_line);
  std::stable_sort(warnings_.begin(), warnings_.end(), by_line);
  ConfigLoad out;
  out.issues = std::move(issues_);
  out.warnings = std::move(warnings_);
  if (out.issues.empty()) out.config = std::move(config);
  return out;
}

// --- structure -----------------------------------------------------------------

void SchemaReader::walkMap(const Value& v, const std::vector<Field>& fields,
                           std::string_view what) {
  if (v.node.IsNull()) return;
  std::vector<std::string_view> known;
  known.reserve(fields.size());
  for (const Field& f : fields) known.push_back(f.name);
  if (!v.node.IsMap()) {
    error(v, "expected a map of " + std::string(what) + " (" + joinWords(known) + "), got " +
                 yamlKind(v.node));
    return;
  }
  const std::string prefix = v.key.empty() ? "" : v.key + ".";
  std::map<std::string, int> seen;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    const YAML::Node key_node = it->first;
    const int key_line = yamlLine(key_node, v.line);
    if (!key_node.IsScalar()) {
      error(v.key, key_line, "keys must be plain words, got " + yamlKind(key_node));
      continue;
    }
    const std::string& name = key_node.Scalar();
    const std::string path = prefix + displayName(name);
    if (auto [pos, fresh] = seen.emplace(name, key_line); !fresh) {
      error(path, key_line,
            "duplicate key (first set on line " + std::to_string(pos->second) + ")");
      continue;
    }
    auto field =
        std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == name; });
    if (field == fields.end()) {
      error(path, key_line, unknownKeyMessage(name, v.key, known));
      continue;
    }
    lines_[path] = key_line;
    field->read(Value{it->second, path, key_line});
  }
}

std::optional<std::vector<std::pair<std::string, Value>>> SchemaReader::list(
    const Value& v, std::string_view expected) {
  if (!v.node.IsSequence()) {
    if (v.node.IsNull()) {
      error(v, "has no value (expected a list of " + std::string(expected) + ")");
    } else {
      error(v, "expected a list of " + std::string(expected) + ", got " + yamlKind(v.node));
    }
    return std::nullopt;
  }
  std::vector<std::pair<std::string, Value>> out;
  bool ok = true;
  std::size_t i = 0;
  for (const YAML::Node& item : v.node) {
    Value iv{item, v.key + "[" + std::to_string(i++) + "]", yamlLine(item, v.line)};
    if (auto s = text(iv, expected)) {
      out.emplace_back(std::move(*s), iv);
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return out;
}

// --- scalars -------------------------------------------------------------------

std::optional<std::string> SchemaReader::scalar(const Value& v, std::string_view expected) {
  if (v.node.IsScalar()) return v.node.Scalar();
  if (v.node.IsNull()) {
    error(v, "has no value (expected " + std::string(expected) + ")");
  } else {
    error(v, "expected " + std::string(expected) + ", got " + yamlKind(v.node));
  }
  return std::nullopt;
}

std::optional<std::string> SchemaReader::text(const Value& v, std::string_view expected) {
  auto s = scalar(v, expected);
  if (!s) return std::nullopt;
  if (s->empty()) {
    error(v, "must not be empty (expected " + std::string(expected) + ")");
    return std::nullopt;
  }
  if (hasControlChars(*s)) {
    error(v, "contains control characters: " + quoteForMessage(*s));
    return std::nullopt;
  }
  return s;
}

std::optional<Millis> SchemaReader::duration(const Value& v) {
  auto s = scalar(v, "a duration such as 5s, 10m, 24h");
  if (!s) return std::nullopt;
  bool bare_number = !s->empty() && std::all_of(s->begin(), s->end(),
                                                [](char c) { return isAsciiDigit(c) || c == '.'; });
  if (bare_number) {
    error(v, "a bare number is not a duration: add a unit, e.g. \"" + *s + "s\", \"" + *s +
                 "m\" or \"" + *s + "h\" (units: ms, s, m, h, d)");
    return std::nullopt;
  }
  auto d = parseDuration(*s);
  if (!d.ok()) {
    error(v, d.error().message);
    return std::nullopt;
  }
  return d.value();
}

void SchemaReader::positiveDuration(const Value& v, Millis& out) {
  if (auto d = duration(v)) {
    if (*d <= 0ms) {
      error(v, "must be greater than 0");
    } else {
      out = *d;
    }
  }
}

std::optional<long long> SchemaReader::integer(const Value& v) {
  auto s = scalar(v, "a whole number");
  if (!s) return std::nullopt;
  long long n = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
  if (s->empty() || ec != std::errc() || ptr != s->data() + s->size()) {
    error(v, "expected a whole number, got " + quoteForMessage(*s));
    return std::nullopt;
  }
  return n;
}

bool SchemaReader::checkIntegerRange(const Value& v, long long n, long long lo, long long hi,
                                     long long type_max) {
  if (n > type_max) {
    error(v, "is too large (at most " + std::to_string(type_max) + "), got " + std::to_string(n));
    return false;
  }
  if (n >= lo && n <= hi) return true;
  if (hi == kNoUpperBound) {
    error(v, "must be at least " + std::to_string(lo) + ", got " + std::to_string(n));
  } else {
    error(v, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                 std::to_string(n));
  }
  return false;
}

void SchemaReader::fraction(const Value& v, double& out, double lo, double hi) {
  auto s = scalar(v, "a number");
  if (!s) return;
  double x = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), x);
  if (s->empty() || ec != std::errc() || ptr != s->data() + s->size() || !std::isfinite(x)) {
    error(v, "expected a number, got " + quoteForMessage(*s));
    return;
  }
  if (x < lo || x > hi) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "must be between %g and %g, got %g", lo, hi, x);
    error(v, buf);
    return;
  }
  out = x;
}

void SchemaReader::boolean(const Value& v, bool& out) {
  auto s = scalar(v, "true or false");
  if (!s) return;
  std::string lowered = status::toLower(*s);
  if (lowered == "true") {
    out = true;
  } else if (lowered == "false") {
    out = false;
  } else {
    error(v, "expected true or false, got " + quoteForMessage(*s));
  }
}

std::optional<fs::path> SchemaReader::path(const Value& v) {
  auto s = text(v, "a file system path");
  if (!s) return std::nullopt;
  fs::path p(*s);
  if (p.is_relative()) p = (base_dir_ / p).lexically_normal();
  return p;
}

void SchemaReader::optionalPath(const Value& v, std::optional<fs::path>& out) {
  if (v.node.IsNull()) {
    out.reset();
    return;
  }
  if (auto p = path(v)) out = std::move(*p);
}

}  // namespace jobwatch::config
