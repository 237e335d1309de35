// SPDX-License-Identifier: Apache-2.0
#include "scenario.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <unordered_set>
#include <utility>

#include "json_text.h"

namespace fakeapi {

namespace {

constexpr std::uint64_t kMaxGeneratedPerEntry = 10'000'000;
constexpr std::size_t kMaxLargeBytes = 256u << 20;

std::optional<std::uint64_t> parseUnsigned(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

bool hasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Decodes UTF-8 and maps each code point <= U+00FF to one byte.
std::optional<std::string> latin1Bytes(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      const unsigned cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
      if (cp > 0xFF) return std::nullopt;
      out.push_back(static_cast<char>(cp));
      ++i;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

struct KindInfo {
  std::string_view name;
  FaultKind kind;
  std::initializer_list<std::string_view> params;
};

const KindInfo kKinds[] = {
    {"http", FaultKind::kHttp, {"code", "retry_after", "body", "location", "content_type", "raw"}},
    {"delay", FaultKind::kDelay, {"ms"}},
    {"hang", FaultKind::kHang, {}},
    {"trickle", FaultKind::kTrickle, {"every"}},
    {"reset", FaultKind::kReset, {}},
    {"close", FaultKind::kClose, {}},
    {"truncated", FaultKind::kTruncated, {}},
    {"body", FaultKind::kBody, {"body", "content_type", "raw"}},
    {"large", FaultKind::kLarge, {"bytes"}},
};

constexpr std::string_view kKindList =
    "http, delay, hang, trickle, reset, close, truncated, body, large";

template <typename Words>
bool contains(const Words& words, std::string_view word) {
  return std::find(std::begin(words), std::end(words), word) != std::end(words);
}

}  // namespace

std::optional<Millis> parseDuration(std::string_view text) {
  if (text == "0") return Millis(0);
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  const std::string_view number = text.substr(0, i);
  const std::string_view unit = text.substr(i);
  if (number.empty() || number.size() > 15 || number.front() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1) {
    return std::nullopt;
  }
  double scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e3;
  } else if (unit == "h") {
    scale = 3600e3;
  } else {
    return std::nullopt;
  }
  const double value = std::strtod(std::string(number).c_str(), nullptr) * scale;
  if (value > 1e13) return std::nullopt;
  return Millis(std::llround(value));
}

bool isServableJobId(std::string_view id) {
  if (id.empty() || id.size() > 1024) return false;
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '/' || c == '?' || c == '#') return false;
  }
  return true;
}

std::variant<FaultSpec, FieldError> parseFault(std::span<const FaultField> fields) {
  const FaultField* kind_field = nullptr;
  for (const FaultField& f : fields) {
    if (f.name == "kind") kind_field = &f;
  }
  if (kind_field == nullptr) {
    return FieldError{"kind", "fault needs a kind (" + std::string(kKindList) + ")"};
  }
  const KindInfo* info = nullptr;
  for (const KindInfo& k : kKinds) {
    if (k.name == kind_field->value) info = &k;
  }
  if (info == nullptr) {
    return FieldError{"kind", "unknown fault kind '" + std::string(kind_field->value) +
                                  "' (expected one of: " + std::string(kKindList) + ")"};
  }

  FaultSpec spec;
  spec.kind = info->kind;
  bool raw = false;
  std::unordered_set<std::string_view> seen;
  for (const FaultField& f : fields) {
    const std::string key(f.name);
    auto error = [&](std::string message) { return FieldError{key, std::move(message)}; };
    if (!seen.insert(f.name).second) return error("duplicate fault key '" + key + "'");
    const std::string_view v = f.value;
    const bool common = f.name == "kind" || f.name == "count" || f.name == "from" ||
                        f.name == "until" || f.name == "endpoint" || f.name == "key";
    if (!common && !contains(info->params, f.name)) {
      bool known = false;
      for (const KindInfo& k : kKinds) known = known || contains(k.params, f.name);
      if (!known) return error("unknown fault key '" + key + "'");
      return error("'" + key + "' does not apply to a " + std::string(info->name) + " fault");
    }
    if (f.name == "kind") continue;
    if (f.name == "key") {
      if (hasLineBreakOrNul(v) || v.empty()) return error("key must be a non-empty single line");
      spec.key = std::string(v);
      continue;
    }
    if (f.name == "endpoint") {
      if (v != "status" && v != "result") return error("endpoint must be status or result");
      spec.endpoint = std::string(v);
      continue;
    }
    if (f.name == "count") {
      const auto n = parseUnsigned(v, UINT64_MAX / 2);
      if (!n || *n == 0) return error("count must be a whole number of at least 1");
      spec.count = *n;
    } else if (f.name == "from" || f.name == "until") {
      const auto d = parseDuration(v);
      if (!d) return error(key + " must be a duration like 500ms, 2s, 1m, 1h");
      (f.name == "from" ? spec.from : spec.until) = *d;
    } else if (f.name == "code") {
      const auto n = parseUnsigned(v, 599);
      if (!n || *n < 100) return error("code must be an HTTP status between 100 and 599");
      spec.code = static_cast<int>(*n);
    } else if (f.name == "retry_after" || f.name == "location" || f.name == "content_type") {
      if (hasLineBreakOrNul(v) || v.empty()) {
        return error(key + " must be a non-empty single-line string");
      }
      (f.name == "retry_after" ? spec.retry_after
       : f.name == "location"  ? spec.location
                               : spec.content_type) = std::string(v);
    } else if (f.name == "body") {
      spec.body = std::string(v);
    } else if (f.name == "raw") {
      if (v != "true" && v != "false") return error("raw must be true or false");
      raw = v == "true";
    } else if (f.name == "ms") {
      const auto n = parseUnsigned(v, 24ull * 3600 * 1000);
      if (!n) return error("ms must be a whole number of milliseconds");
      spec.delay = Millis(*n);
    } else if (f.name == "every") {
      const auto d = parseDuration(v);
      if (!d) return error("every must be a duration like 100ms or 1s");
      spec.every = *d;
    } else if (f.name == "bytes") {
      const auto n = parseUnsigned(v, kMaxLargeBytes);
      if (!n) return error("bytes must be a whole number up to " + std::to_string(kMaxLargeBytes));
      spec.bytes = static_cast<std::size_t>(*n);
    }
  }
  if (spec.from && spec.until && *spec.from >= *spec.until) {
    return FieldError{"until", "until must be later than from"};
  }
  switch (spec.kind) {
    case FaultKind::kHttp:
      if (spec.code == 0) return FieldError{"kind", "an http fault needs a code"};
      break;
    case FaultKind::kDelay:
      if (!seen.contains("ms")) return FieldError{"kind", "a delay fault needs ms"};
      break;
    case FaultKind::kBody:
      if (!spec.body) return FieldError{"kind", "a body fault needs a body"};
      break;
    case FaultKind::kLarge:
      if (!seen.contains("bytes")) return FieldError{"kind", "a large fault needs bytes"};
      break;
    default:
      break;
  }
  if (raw && spec.body) {
    auto bytes = latin1Bytes(*spec.body);
    if (!bytes) return FieldError{"body", "a raw body may only hold characters up to U+00FF"};
    spec.body = std::move(*bytes);
  }
  return spec;
}

namespace {

// Thrown inside the loader only; loadScenario() turns it into a ScenarioError.
struct LoadFailure {
  int line;  // 1-based; 0 when unknown
  std::string message;
};

int lineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

[[noreturn]] void fail(const YAML::Node& at, std::string message) {
  throw LoadFailure{lineOf(at), std::move(message)};
}

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

std::string joined(std::span<const std::string_view> words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out.append(", ");
    out.append(w);
  }
  return out;
}

// The entries of a mapping, rejecting unknown and repeated keys.
std::vector<Entry> entriesOf(const YAML::Node& map, std::string_view what,
                             std::span<const std::string_view> allowed) {
  if (!map.IsMap()) fail(map, std::string(what) + " must be a mapping");
  std::vector<Entry> entries;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) fail(kv.first, "keys in " + std::string(what) + " must be words");
    Entry e{kv.first.Scalar(), kv.first, kv.second};
    if (!contains(allowed, e.key)) {
      fail(kv.first, "unknown key '" + e.key + "' in " + std::string(what) +
                         " (expected one of: " + joined(allowed) + ")");
    }
    for (const Entry& earlier : entries) {
      if (earlier.key == e.key)
        fail(kv.first, "duplicate key '" + e.key + "' in " + std::string(what));
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string scalarOf(const Entry& e) {
  if (!e.value.IsScalar()) fail(e.key_node, "'" + e.key + "' must be a single value");
  return e.value.Scalar();
}

std::optional<std::string> optionalString(const Entry& e) {
  if (e.value.IsNull()) return std::nullopt;
  return scalarOf(e);
}

std::string requiredWord(const Entry& e) {
  if (e.value.IsNull()) fail(e.key_node, "'" + e.key + "' needs a value");
  std::string s = scalarOf(e);
  if (s.empty()) fail(e.key_node, "'" + e.key + "' must not be empty");
  return s;
}

Millis durationOf(const Entry& e) {
  const auto d = parseDuration(requiredWord(e));
  if (!d) fail(e.key_node, "'" + e.key + "' must be a duration like 500ms, 2s, 1m, 1h");
  return *d;
}

constexpr std::string_view kFaultKeys[] = {
    "kind",         "count", "from", "until", "code",  "retry_after", "body", "location",
    "content_type", "raw",   "ms",   "every", "bytes", "endpoint",    "key"};
constexpr std::string_view kStepKeys[] = {"at", "status"};
constexpr std::string_view kScenarioKeys[] = {"api_key",        "api_keys",    "key_header",
                                              "timeline_start", "jobs",        "generate",
                                              "faults",         "rate_limits", "rate_window"};
constexpr std::string_view kRateLimitKeys[] = {"key", "per_window"};
constexpr std::string_view kJobKeys[] = {
    "id",       "type",   "pdf_name", "pdf_hash", "user_id",      "created_at",  "error",
    "id_field", "status", "timeline", "faults",   "result_bytes", "result_rate", "result_chunked"};
constexpr std::string_view kGenerateKeys[] = {
    "prefix",   "count",      "type",         "pdf_name",    "pdf_hash",
    "user_id",  "created_at", "error",        "id_field",    "status",
    "timeline", "faults",     "result_bytes", "result_rate", "result_chunked"};

FaultSpec faultOf(const YAML::Node& node) {
  const std::vector<Entry> entries = entriesOf(node, "fault", kFaultKeys);
  std::vector<std::string> values;
  values.reserve(entries.size());
  for (const Entry& e : entries) values.push_back(e.value.IsNull() ? std::string() : scalarOf(e));
  std::vector<FaultField> fields;
  for (std::size_t i = 0; i < entries.size(); ++i) fields.push_back({entries[i].key, values[i]});
  auto parsed = parseFault(fields);
  if (auto* error = std::get_if<FieldError>(&parsed)) {
    for (const Entry& e : entries) {
      if (e.key == error->key) fail(e.key_node, error->message);
    }
    fail(node, error->message);
  }
  return std::get<FaultSpec>(std::move(parsed));
}

std::vector<FaultSpec> faultsOf(const Entry& e) {
  if (e.value.IsNull()) return {};
  if (!e.value.IsSequence()) fail(e.key_node, "'faults' must be a list");
  std::vector<FaultSpec> faults;
  for (const auto& item : e.value) faults.push_back(faultOf(item));
  return faults;
}

std::vector<TimelineStep> timelineOf(const Entry& e) {
  if (!e.value.IsSequence() || e.value.size() == 0) {
    fail(e.key_node, "'timeline' must be a non-empty list of {at, status}");
  }
  std::vector<TimelineStep> steps;
  for (const auto& item : e.value) {
    TimelineStep step;
    bool have_at = false;
    bool have_status = false;
    for (const Entry& f : entriesOf(item, "timeline step", kStepKeys)) {
      if (f.key == "at") {
        step.at = durationOf(f);
        have_at = true;
      } else {
        step.status = requiredWord(f);
        have_status = true;
      }
    }
    if (!have_at || !have_status) fail(item, "a timeline step needs both 'at' and 'status'");
    if (!steps.empty() && step.at < steps.back().at) {
      fail(item, "timeline steps must be in order of 'at'");
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

// The fields shared by `jobs` and `generate` entries; the caller handles
// id, prefix and count.
JobTemplate jobOf(const YAML::Node& node, std::string_view what,
                  const std::vector<Entry>& entries) {
  JobTemplate job;
  bool have_status = false;
  for (const Entry& e : entries) {
    if (e.key == "type") {
      job.type = optionalString(e);
    } else if (e.key == "pdf_name") {
      job.pdf_name = optionalString(e);
    } else if (e.key == "pdf_hash") {
      job.pdf_hash = optionalString(e);
    } else if (e.key == "user_id") {
      job.user_id = optionalString(e);
    } else if (e.key == "created_at") {
      job.created_at = optionalString(e);
    } else if (e.key == "error") {
      job.error = optionalString(e);
    } else if (e.key == "id_field") {
      const std::string field = requiredWord(e);
      if (field != "id" && field != "job_id") fail(e.key_node, "id_field must be id or job_id");
      job.id_field_is_job_id = field == "job_id";
    } else if (e.key == "status") {
      if (!job.timeline.empty()) fail(e.key_node, "give 'status' or 'timeline', not both");
      job.timeline.push_back({Millis(0), requiredWord(e)});
      have_status = true;
    } else if (e.key == "timeline") {
      if (have_status) fail(e.key_node, "give 'status' or 'timeline', not both");
      job.timeline = timelineOf(e);
    } else if (e.key == "faults") {
      job.faults = faultsOf(e);
    } else if (e.key == "result_bytes" || e.key == "result_rate") {
      const auto n = parseUnsigned(scalarOf(e), std::uint64_t{1} << 40);
      if (!n) fail(e.key_node, e.key + " must be a whole number of bytes");
      (e.key == "result_bytes" ? job.result_bytes : job.result_rate) = *n;
    } else if (e.key == "result_chunked") {
      const std::string v = scalarOf(e);
      if (v != "true" && v != "false") fail(e.key_node, "result_chunked must be true or false");
      job.result_chunked = v == "true";
    }
  }
  if (job.timeline.empty()) fail(node, std::string(what) + " needs a 'status' or a 'timeline'");
  return job;
}

const Entry* find(const std::vector<Entry>& entries, std::string_view key) {
  for (const Entry& e : entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

class ScenarioBuilder {
 public:
  Scenario build(const YAML::Node& root) {
    if (root.IsNull()) fail(root, "the scenario is empty (expected at least 'jobs:')");
    for (const Entry& e : entriesOf(root, "scenario", kScenarioKeys)) {
      if (e.key == "api_key") {
        auto key = optionalString(e);
        if (key && hasLineBreakOrNul(*key)) fail(e.key_node, "api_key must be a single line");
        if (key && !key->empty()) scenario_.api_key = std::move(key);
      } else if (e.key == "api_keys" || e.key == "rate_limits" || e.key == "rate_window") {
        addKeyRule(e);
      } else if (e.key == "key_header") {
        scenario_.key_header = requiredWord(e);
        for (char c : scenario_.key_header) {
          if (c == ':' || static_cast<unsigned char>(c) <= 0x20) {
            fail(e.key_node, "key_header must be a header name like X-API-Key");
          }
        }
      } else if (e.key == "timeline_start") {
        const std::string word = requiredWord(e);
        if (word == "first_request") {
          scenario_.timeline_start = TimelineStart::kFirstRequest;
        } else if (word != "server_start") {
          fail(e.key_node, "timeline_start must be first_request or server_start");
        }
      } else if (e.key == "jobs") {
        if (e.value.IsNull()) continue;
        if (!e.value.IsSequence()) fail(e.key_node, "'jobs' must be a list");
        for (const auto& item : e.value) addJob(item);
      } else if (e.key == "generate") {
        if (e.value.IsNull()) continue;
        if (!e.value.IsSequence()) fail(e.key_node, "'generate' must be a list");
        for (const auto& item : e.value) addGenerated(item);
      } else if (e.key == "faults") {
        scenario_.faults = faultsOf(e);
      }
    }
    return std::move(scenario_);
  }

 private:
  // api_keys, rate_limits and rate_window.
  void addKeyRule(const Entry& e) {
    if (e.key == "rate_window") {
      scenario_.rate_window = durationOf(e);
      if (scenario_.rate_window <= Millis(0)) fail(e.key_node, "rate_window must be positive");
      return;
    }
    if (e.value.IsNull()) return;
    if (!e.value.IsSequence()) fail(e.key_node, "'" + e.key + "' must be a list");
    for (const auto& item : e.value) {
      if (e.key == "api_keys") {
        if (!item.IsScalar() || item.Scalar().empty() || hasLineBreakOrNul(item.Scalar())) {
          fail(item, "each of api_keys must be a non-empty single-line key");
        }
        scenario_.api_keys.push_back(item.Scalar());
        continue;
      }
      RateLimit limit;
      bool have_per_window = false;
      for (const Entry& f : entriesOf(item, "rate limit", kRateLimitKeys)) {
        if (f.key == "key") {
          limit.key = requiredWord(f);
          if (hasLineBreakOrNul(limit.key)) fail(f.key_node, "key must be a single line");
        } else {
          const auto n = parseUnsigned(requiredWord(f), UINT64_MAX / 2);
          if (!n || *n == 0) fail(f.key_node, "per_window must be a whole number of at least 1");
          limit.per_window = *n;
          have_per_window = true;
        }
      }
      if (limit.key.empty() || !have_per_window)
        fail(item, "a rate limit needs key and per_window");
      for (const RateLimit& earlier : scenario_.rate_limits) {
        if (earlier.key == limit.key) fail(item, "a second rate limit for the same key");
      }
      scenario_.rate_limits.push_back(std::move(limit));
    }
  }

  void addJob(const YAML::Node& node) {
    const auto entries = entriesOf(node, "job", kJobKeys);
    auto job = std::make_shared<const JobTemplate>(jobOf(node, "job", entries));
    const Entry* id = find(entries, "id");
    if (id == nullptr) fail(node, "a job needs an 'id'");
    addId(requiredWord(*id), id->key_node, job);
  }

  void addGenerated(const YAML::Node& node) {
    const auto entries = entriesOf(node, "generate entry", kGenerateKeys);
    auto job = std::make_shared<const JobTemplate>(jobOf(node, "generate entry", entries));
    const Entry* prefix = find(entries, "prefix");
    const Entry* count = find(entries, "count");
    if (prefix == nullptr || count == nullptr)
      fail(node, "a generate entry needs prefix and count");
    const std::string p = prefix->value.IsNull() ? std::string() : scalarOf(*prefix);
    const auto n = parseUnsigned(scalarOf(*count), kMaxGeneratedPerEntry);
    if (!n) {
      fail(count->key_node,
           "count must be a whole number up to " + std::to_string(kMaxGeneratedPerEntry));
    }
    scenario_.jobs.reserve(scenario_.jobs.size() + *n);
    for (std::uint64_t i = 0; i < *n; ++i) addId(p + std::to_string(i), prefix->key_node, job);
  }

  void addId(std::string id, const YAML::Node& at, const std::shared_ptr<const JobTemplate>& job) {
    if (!isServableJobId(id)) {
      fail(at, "job id '" + id + "' cannot appear in a URL path (no '/', '?', '#', spaces)");
    }
    if (!ids_.insert(id).second) fail(at, "duplicate job id '" + id + "'");
    scenario_.jobs.push_back({std::move(id), job});
  }

  Scenario scenario_;
  std::unordered_set<std::string> ids_;
};

}  // namespace

std::variant<Scenario, ScenarioError> loadScenario(const std::string& path) {
  auto located = [&](int line, const std::string& message) {
    return ScenarioError{line > 0 ? path + ":" + std::to_string(line) + ": " + message
                                  : path + ": " + message};
  };
  try {
    return ScenarioBuilder().build(YAML::LoadFile(path));
  } catch (const LoadFailure& failure) {
    return located(failure.line, failure.message);
  } catch (const YAML::BadFile&) {
    return located(0, "cannot read the scenario file");
  } catch (const YAML::Exception& e) {
    return located(e.mark.is_null() ? 0 : e.mark.line + 1, e.msg);
  }
}

}  // namespace fakeapi
