#include "config/config.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "status/job_status.h"
#include "util/bounded_file.h"
#include "util/job_id.h"
#include "util/yaml_node.h"

namespace jobwatch::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A config is a few kilobytes; anything far larger is a mistake (or hostile).
constexpr std::size_t kMaxConfigBytes = std::size_t{4} * 1024 * 1024;
// An API key is short; a large "key file" is the wrong file.
constexpr std::size_t kMaxApiKeyBytes = std::size_t{64} * 1024;
// The vendor's published floor for polling one job.
constexpr Millis kVendorMinInterval = 2s;
constexpr std::size_t kMaxNameLength = 64;

// ---------------------------------------------------------------------------
// Small pure helpers.

bool isAsciiAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiAlnum(char c) { return isAsciiAlpha(c) || isAsciiDigit(c); }

bool hasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Keys come from the file: render odd ones escaped so they cannot forge output.
std::string displayName(std::string_view name) {
  bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return isAsciiAlnum(c) || c == '_' || c == '-' || c == '.';
  });
  return plain ? std::string(name) : quoteForMessage(name, 64);
}

// Optimal string alignment distance: Levenshtein plus adjacent transposition,
// so "intreval" is one edit from "interval".
std::size_t editDistance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The closest known word within two edits (fewer for very short words, where
// two edits would make anything "close").
std::optional<std::string_view> closestWord(std::string_view word,
                                            const std::vector<std::string_view>& known) {
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;
  const std::string lowered = status::toLower(word);
  for (std::string_view candidate : known) {
    std::size_t distance = editDistance(lowered, candidate);
    if (distance < best_distance && distance < candidate.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string joinWords(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

// Status words: what the API says and what the daemon says. They end up in
// metrics labels and hook environments, so keep them plain.
bool isStatusWord(std::string_view s) {
  return !s.empty() && s.size() <= kMaxNameLength && std::all_of(s.begin(), s.end(), [](char c) {
    return isAsciiAlnum(c) || c == '_' || c == '-' || c == '.';
  });
}

bool isHookName(std::string_view s) { return isStatusWord(s); }

// RFC 9110 allows more token characters, but header names in practice are
// letters, digits and '-'; anything else is far more likely a mistake.
bool isHeaderName(std::string_view s) {
  return !s.empty() && s.size() <= kMaxNameLength &&
         std::all_of(s.begin(), s.end(), [](char c) { return isAsciiAlnum(c) || c == '-'; });
}

bool isEnvName(std::string_view s) {
  if (s.empty() || s.size() > 255 || isAsciiDigit(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return isAsciiAlnum(c) || c == '_'; });
}

bool isIpv4(const std::string& s) {
  in_addr addr{};
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool isIpv6(const std::string& s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// Host as written in a URL or listen address (IPv6 without brackets).
bool isLoopbackHost(const std::string& host) {
  std::string h = status::toLower(host);
  if (h == "localhost" || h == "::1") return true;
  return isIpv4(h) && h.rfind("127.", 0) == 0;
}

std::optional<int> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  int port = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  if (ec != std::errc() || ptr != s.data() + s.size() || port < 0 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

struct HostPort {
  std::string host;  // IPv6 without brackets
  std::string port;  // may be empty when optional
};

// Splits "host", "host:port", "[v6]" or "[v6]:port". Errors say what is wrong.
Result<HostPort> splitHostPort(std::string_view text) {
  HostPort out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return Error{"unclosed '[' in IPv6 address"};
    out.host = std::string(text.substr(1, close - 1));
    if (!isIpv6(out.host)) return Error{"invalid IPv6 address " + quoteForMessage(out.host)};
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return Error{"unexpected text after ']': expected ':port'"};
    }
  } else {
    auto colon = text.rfind(':');
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) rest = text.substr(colon);
    if (out.host.find(':') != std::string::npos) {
      return Error{"an IPv6 address must be written in brackets, e.g. [::1]:9464"};
    }
  }
  if (out.host.empty()) return Error{"missing host"};
  if (!rest.empty()) {
    out.port = std::string(rest.substr(1));
    if (!parsePort(out.port)) {
      return Error{"invalid port " + quoteForMessage(out.port) + " (expected 0..65535)"};
    }
  }
  return out;
}

struct ListenAddress {
  bool loopback = false;
};

Result<ListenAddress> parseListen(std::string_view text) {
  if (text.empty()) return Error{"is empty; expected host:port, e.g. 127.0.0.1:9464"};
  auto split = splitHostPort(text);
  if (!split.ok())
    return Error{split.error().message + " (expected host:port, e.g. 127.0.0.1:9464)"};
  const HostPort& hp = split.value();
  if (hp.port.empty()) return Error{"missing port (expected host:port, e.g. 127.0.0.1:9464)"};
  bool bracketed = text.front() == '[';
  if (!bracketed && !isIpv4(hp.host) && status::toLower(hp.host) != "localhost") {
    return Error{"host " + quoteForMessage(hp.host) +
                 " must be an IPv4 address, [IPv6 address] or localhost"};
  }
  return ListenAddress{isLoopbackHost(hp.host)};
}

// ---------------------------------------------------------------------------
// The schema walker. Every problem is collected; nothing throws out.

struct Value {
  YAML::Node node;
  std::string key;  // dotted path
  int line = 0;     // line of the key; used when the value itself has no mark
};

struct Field {
  std::string_view name;
  std::function<void(const Value&)> read;
};

struct PendingHookStatus {
  std::string key;
  int line = 0;
  std::string status;
};

class ConfigParser {
 public:
  explicit ConfigParser(fs::path source) : source_(std::move(source)) {
    cfg_.source = source_;
    std::error_code ec;
    fs::path absolute = fs::absolute(source_, ec);
    base_dir_ = ec ? source_.parent_path() : absolute.parent_path();
    cfg_.poll.status_aliases = status::defaultAliases();
    cfg_.poll.extra_terminal_statuses = status::defaultExtraTerminal();
  }

  ConfigLoad parse(const std::string& text) {
    try {
      const YamlDocument doc = loadSingleYamlDocument(text);
      if (doc.second_document_line > 0) {
        error("", doc.second_document_line,
              "a second YAML document starts here (after '---', or where the YAML stops "
              "making sense); expected exactly one");
      } else if (doc.present) {
        parseTop(doc.root);
      }
    } catch (const YAML::Exception& e) {
      error("", e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg);
    }
    // Checks that span keys run last; report in file order all the same.
    auto by_line = [](const ConfigIssue& a, const ConfigIssue& b) { return a.line < b.line; };
    std::stable_sort(issues_.begin(), issues_.end(), by_line);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_line);
    ConfigLoad out;
    out.issues = std::move(issues_);
    out.warnings = std::move(warnings_);
    if (out.issues.empty()) out.config = std::move(cfg_);
    return out;
  }

 private:
  // --- reporting -----------------------------------------------------------

  void error(std::string key, int line, std::string message) {
    issues_.push_back(ConfigIssue{source_, line, std::move(key), std::move(message)});
  }
  void error(const Value& v, std::string message) {
    error(v.key, valueLine(v), std::move(message));
    bad_.insert(v.key);
  }
  void warning(std::string key, int line, std::string message) {
    warnings_.push_back(ConfigIssue{source_, line, std::move(key), std::move(message)});
  }
  static int valueLine(const Value& v) {
    // A null value's mark points past it (often at the next line).
    return v.node.IsNull() ? v.line : yamlLine(v.node, v.line);
  }
  int lineFor(const std::string& key) const {
    auto it = lines_.find(key);
    return it == lines_.end() ? 0 : it->second;
  }
  bool isBad(const std::string& key) const { return bad_.count(key) > 0; }

  // --- structure -----------------------------------------------------------

  // Walks a map of settings. A null node (a section with every key commented
  // out) means "all defaults".
  void walkMap(const Value& v, const std::vector<Field>& fields, std::string_view what) {
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
      auto field = std::find_if(fields.begin(), fields.end(),
                                [&](const Field& f) { return f.name == name; });
      if (field == fields.end()) {
        std::string where = v.key.empty() ? "at the top level" : "in " + v.key;
        std::string message = "unknown key " + quoteBackticks(name) + " " + where;
        if (auto guess = closestWord(name, known)) {
          message += " (did you mean `" + std::string(*guess) + "`?)";
        } else {
          message += " (known: " + joinWords(known) + ")";
        }
        error(path, key_line, std::move(message));
        continue;
      }
      lines_[path] = key_line;
      field->read(Value{it->second, path, key_line});
    }
  }

  static std::string quoteBackticks(std::string_view name) {
    std::string shown = displayName(name);
    return shown.front() == '"' ? shown : "`" + shown + "`";
  }

  // --- scalars -------------------------------------------------------------

  std::optional<std::string> scalar(const Value& v, std::string_view expected) {
    if (v.node.IsScalar()) return v.node.Scalar();
    if (v.node.IsNull()) {
      error(v, "has no value (expected " + std::string(expected) + ")");
    } else {
      error(v, "expected " + std::string(expected) + ", got " + yamlKind(v.node));
    }
    return std::nullopt;
  }

  std::optional<std::string> text(const Value& v, std::string_view expected) {
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

  std::optional<Millis> duration(const Value& v) {
    auto s = scalar(v, "a duration such as 5s, 10m, 24h");
    if (!s) return std::nullopt;
    bool bare_number = !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
      return isAsciiDigit(c) || c == '.';
    });
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

  void positiveDuration(const Value& v, Millis& out) {
    if (auto d = duration(v)) {
      if (*d <= 0ms) {
        error(v, "must be greater than 0");
      } else {
        out = *d;
      }
    }
  }

  std::optional<long long> integer(const Value& v) {
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

  // For settings without a sensible maximum; the type still bounds them.
  static constexpr long long kNoUpperBound = std::numeric_limits<long long>::max();

  template <typename T>
  void integerAtLeast(const Value& v, T& out, long long lo) {
    integerInRange(v, out, lo, kNoUpperBound);
  }

  template <typename T>
  void integerInRange(const Value& v, T& out, long long lo, long long hi) {
    auto n = integer(v);
    if (!n) return;
    const long long type_max = std::cmp_greater(std::numeric_limits<T>::max(), kNoUpperBound)
                                   ? kNoUpperBound
                                   : static_cast<long long>(std::numeric_limits<T>::max());
    if (*n > type_max) {
      error(v,
            "is too large (at most " + std::to_string(type_max) + "), got " + std::to_string(*n));
      return;
    }
    if (*n < lo || *n > hi) {
      if (hi == kNoUpperBound) {
        error(v, "must be at least " + std::to_string(lo) + ", got " + std::to_string(*n));
      } else {
        error(v, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                     std::to_string(*n));
      }
      return;
    }
    out = static_cast<T>(*n);
  }

  void fraction(const Value& v, double& out, double lo, double hi) {
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

  void boolean(const Value& v, bool& out) {
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

  // A relative path is anchored at the config file's directory.
  std::optional<fs::path> path(const Value& v) {
    auto s = text(v, "a file system path");
    if (!s) return std::nullopt;
    fs::path p(*s);
    if (p.is_relative()) p = (base_dir_ / p).lexically_normal();
    return p;
  }

  // Optional paths may be left empty (`file:`) to mean "not set".
  void optionalPath(const Value& v, std::optional<fs::path>& out) {
    if (v.node.IsNull()) {
      out.reset();
      return;
    }
    if (auto p = path(v)) out = std::move(*p);
  }

  // api.api_key_file: a path, or a systemd credential named after a leading
  // ${CREDENTIALS_DIRECTORY}/ (also without braces), kept unresolved until
  // the key is read (the directory exists only while the unit runs).
  void apiKeyFile(const Value& v, std::optional<fs::path>& out) {
    if (v.node.IsScalar()) {
      const std::string& s = v.node.Scalar();
      for (std::string_view prefix : {kCredentialsDirPrefix, kCredentialsDirPrefixBare}) {
        if (s.rfind(prefix, 0) != 0) continue;
        const std::string name = s.substr(prefix.size());
        if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
            hasControlChars(name)) {
          error(v, quoteForMessage(s) + ": after " + std::string(prefix) +
                       " comes the name of one credential (as in LoadCredential=NAME:...), "
                       "without '/'");
          return;
        }
        out = fs::path(std::string(kCredentialsDirPrefix) + name);
        return;
      }
    }
    optionalPath(v, out);
  }

  // A list of plain values, each with its own key and line.
  std::optional<std::vector<std::pair<std::string, Value>>> list(const Value& v,
                                                                 std::string_view expected) {
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

  // --- sections ------------------------------------------------------------

  void parseTop(const YAML::Node& root) {
    Value top{root, "", 1};
    if (!root.IsNull() && !root.IsMap()) {
      error("", yamlLine(root, 1),
            "the top level must be a map of sections (api, poll, watch, state, hooks, metrics, "
            "logging, shard), got " +
                yamlKind(root));
      return;
    }
    walkMap(top,
            {
                {"api", [this](const Value& v) { parseApi(v); }},
                {"poll", [this](const Value& v) { parsePoll(v); }},
                {"watch", [this](const Value& v) { parseWatch(v); }},
                {"state", [this](const Value& v) { parseState(v); }},
                {"hooks", [this](const Value& v) { parseHooks(v); }},
                {"metrics", [this](const Value& v) { parseMetrics(v); }},
                {"logging", [this](const Value& v) { parseLogging(v); }},
                {"shard", [this](const Value& v) { parseShard(v); }},
            },
            "sections");
    crossChecks();
  }

  void parseApi(const Value& section) {
    ApiConfig& api = cfg_.api;
    walkMap(
        section,
        {
            {"base_url",
             [&](const Value& v) {
               if (auto s = text(v, "an https:// URL")) base_url_raw_ = *s;
             }},
            {"api_key_file", [&](const Value& v) { apiKeyFile(v, api.api_key_file); }},
            {"api_key_env",
             [&](const Value& v) {
               auto s = text(v, "an environment variable name");
               if (!s) return;
               if (!isEnvName(*s)) {
                 error(v, quoteForMessage(*s) +
                              " is not a valid environment variable name (letters, digits "
                              "and _, not starting with a digit)");
                 return;
               }
               api.api_key_env = *s;
             }},
            {"key_header",
             [&](const Value& v) {
               auto s = text(v, "an HTTP header name");
               if (!s) return;
               if (!isHeaderName(*s)) {
                 error(v, quoteForMessage(*s) +
                              " is not a valid HTTP header name (letters, digits and -)");
                 return;
               }
               api.key_header = *s;
             }},
            {"rate_limit", [&](const Value& v) { parseRateLimit(v); }},
            {"request_timeout", [&](const Value& v) { positiveDuration(v, api.request_timeout); }},
            {"connect_timeout", [&](const Value& v) { positiveDuration(v, api.connect_timeout); }},
            {"max_concurrent_requests",
             [&](const Value& v) { integerInRange(v, api.max_concurrent_requests, 1, 1024); }},
            {"allow_insecure_http", [&](const Value& v) { boolean(v, api.allow_insecure_http); }},
        },
        "API settings");
  }

  void parseRateLimit(const Value& v) {
    auto s = scalar(v, "a rate such as 100/min or 2/s, or 0 for off");
    if (!s) return;
    const std::string& text = *s;
    auto number = [](std::string_view part, double& out) {
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
      return !part.empty() && ec == std::errc() && ptr == part.data() + part.size() &&
             std::isfinite(out) && out >= 0;
    };
    const std::string usage = " (expected N/s or N/min, e.g. 100/min, or 0 for off)";
    auto slash = text.find('/');
    double n = 0;
    if (slash == std::string::npos) {
      if (number(text, n) && n == 0) {
        cfg_.api.rate_limit.per_second = 0;
      } else {
        error(v, "invalid rate " + quoteForMessage(text) + ": missing unit" + usage);
      }
      return;
    }
    if (!number(std::string_view(text).substr(0, slash), n)) {
      error(v, "invalid rate " + quoteForMessage(text) + ": bad number" + usage);
      return;
    }
    std::string unit = text.substr(slash + 1);
    unit.erase(0, unit.find_first_not_of(' '));
    if (unit == "s") {
      cfg_.api.rate_limit.per_second = n;
    } else if (unit == "min") {
      cfg_.api.rate_limit.per_second = n / 60.0;
    } else {
      error(v, "invalid rate " + quoteForMessage(text) + ": unknown unit " + quoteForMessage(unit) +
                   usage);
    }
  }

  void parsePoll(const Value& section) {
    PollConfig& poll = cfg_.poll;
    walkMap(section,
            {
                {"interval",
                 [&](const Value& v) {
                   if (auto d = duration(v)) poll.interval = *d;
                 }},
                {"jitter", [&](const Value& v) { fraction(v, poll.jitter, 0.0, 0.5); }},
                {"backoff_max", [&](const Value& v) { positiveDuration(v, poll.backoff_max); }},
                {"give_up_after", [&](const Value& v) { positiveDuration(v, poll.give_up_after); }},
                {"not_found_after",
                 [&](const Value& v) { integerInRange(v, poll.not_found_after, 1, 1'000'000); }},
                {"status_aliases", [&](const Value& v) { parseAliases(v); }},
                {"extra_terminal_statuses",
                 [&](const Value& v) {
                   if (v.node.IsNull()) return;  // nothing beyond the defaults
                   auto items = list(v, "status names");
                   if (!items) return;
                   for (auto& [word, iv] : *items) {
                     if (!isStatusWord(word)) {
                       error(iv, quoteForMessage(word) + " is not a valid status name" +
                                     std::string(kStatusRule));
                       continue;
                     }
                     std::string lowered = status::toLower(word);
                     auto& terminal = poll.extra_terminal_statuses;
                     if (std::find(terminal.begin(), terminal.end(), lowered) == terminal.end()) {
                       terminal.push_back(std::move(lowered));
                     }
                   }
                 }},
            },
            "poll settings");
  }

  static constexpr std::string_view kStatusRule =
      " (letters, digits, _ - and ., at most 64 characters)";

  void parseAliases(const Value& v) {
    if (v.node.IsNull()) return;
    if (!v.node.IsMap()) {
      error(v, "expected a map of API word to status, e.g. {succeeded: completed}, got " +
                   yamlKind(v.node));
      return;
    }
    std::set<std::string> seen;
    for (auto it = v.node.begin(); it != v.node.end(); ++it) {
      const int key_line = yamlLine(it->first, v.line);
      if (!it->first.IsScalar()) {
        error(v.key, key_line, "alias keys must be words, got " + yamlKind(it->first));
        continue;
      }
      const std::string from = it->first.Scalar();
      Value iv{it->second, v.key + "." + displayName(from), key_line};
      if (!isStatusWord(from)) {
        error(iv, quoteForMessage(from) + " is not a valid status word" + std::string(kStatusRule));
        continue;
      }
      auto to = text(iv, "a status name");
      if (!to) continue;
      if (!isStatusWord(*to)) {
        error(iv, quoteForMessage(*to) + " is not a valid status name" + std::string(kStatusRule));
        continue;
      }
      std::string lowered = status::toLower(from);
      if (!seen.insert(lowered).second) {
        error(iv, "duplicate alias for " + quoteForMessage(lowered));
        continue;
      }
      cfg_.poll.status_aliases[lowered] = status::toLower(*to);
    }
  }

  void parseWatch(const Value& section) {
    walkMap(section,
            {
                {"file", [&](const Value& v) { optionalPath(v, cfg_.watch.file); }},
                {"drop_dir", [&](const Value& v) { optionalPath(v, cfg_.watch.drop_dir); }},
            },
            "watch settings");
  }

  void parseState(const Value& section) {
    walkMap(
        section,
        {
            {"path",
             [&](const Value& v) {
               if (auto p = path(v)) cfg_.state.path = std::move(*p);
             }},
            {"forget_after", [&](const Value& v) { positiveDuration(v, cfg_.state.forget_after); }},
        },
        "state settings");
  }

  void parseHooks(const Value& section) {
    walkMap(section,
            {
                {"max_concurrent",
                 [&](const Value& v) { integerInRange(v, cfg_.hooks.max_concurrent, 1, 256); }},
                {"definitions", [&](const Value& v) { parseHookDefinitions(v); }},
            },
            "hook settings");
  }

  void parseHookDefinitions(const Value& v) {
    if (v.node.IsNull()) return;
    if (!v.node.IsSequence()) {
      error(v, "expected a list of hook definitions (each with name, on, command or shell), got " +
                   yamlKind(v.node));
      return;
    }
    std::map<std::string, int> names;  // name -> line of first definition
    std::size_t index = 0;
    for (const YAML::Node& item : v.node) {
      Value hv{item, v.key + "[" + std::to_string(index++) + "]", yamlLine(item, v.line)};
      parseHook(hv, names);
    }
  }

  void parseHook(const Value& hv, std::map<std::string, int>& names) {
    if (!hv.node.IsMap()) {
      error(hv, "expected a hook definition (a map with name, on, command or shell), got " +
                    yamlKind(hv.node));
      return;
    }
    HookDefinition hook;
    bool has_name = false;
    bool has_on = false;
    bool has_command = false;
    bool has_shell = false;
    const std::size_t errors_before = issues_.size();
    std::vector<PendingHookStatus> statuses;
    walkMap(hv,
            {
                {"name",
                 [&](const Value& v) {
                   has_name = true;
                   auto s = text(v, "a hook name");
                   if (!s) return;
                   if (!isHookName(*s)) {
                     error(v, quoteForMessage(*s) +
                                  " is not a valid hook name (letters, digits, _ . and -, at "
                                  "most 64 characters)");
                     return;
                   }
                   auto [pos, fresh] = names.emplace(*s, v.line);
                   if (!fresh) {
                     error(v, "duplicate hook name `" + *s + "` (first defined on line " +
                                  std::to_string(pos->second) + ")");
                     return;
                   }
                   hook.name = *s;
                 }},
                {"on",
                 [&](const Value& v) {
                   has_on = true;
                   parseHookOn(v, hook, statuses);
                 }},
                {"types",
                 [&](const Value& v) {
                   if (v.node.IsNull()) return;
                   if (v.node.IsScalar()) {
                     if (auto s = text(v, "a job type")) hook.types.push_back(*s);
                     return;
                   }
                   auto items = list(v, "job types");
                   if (!items) return;
                   for (auto& [word, iv] : *items) hook.types.push_back(word);
                 }},
                {"command",
                 [&](const Value& v) {
                   has_command = true;
                   parseHookCommand(v, hook);
                 }},
                {"shell",
                 [&](const Value& v) {
                   has_shell = true;
                   if (auto s = scalar(v, "a shell command line")) {
                     if (s->find_first_not_of(" \t\n") == std::string::npos) {
                       error(v, "must not be empty");
                     } else if (s->find('\0') != std::string::npos) {
                       error(v, "contains a NUL character");
                     } else {
                       hook.shell = *s;
                     }
                   }
                 }},
                {"timeout", [&](const Value& v) { positiveDuration(v, hook.timeout); }},
                {"retries", [&](const Value& v) { integerInRange(v, hook.retries, 0, 100); }},
            },
            "hook settings");
    if (!has_name) error(hv.key + ".name", hv.line, "a hook needs a `name`");
    if (!has_on) {
      error(hv.key + ".on", hv.line,
            "a hook needs `on`: the statuses that run it, e.g. [completed, failed], or \"*\"");
    }
    if (has_command && has_shell) {
      error(hv.key, hv.line,
            "set either `command` (an argv list, run directly) or `shell` (a string run through "
            "/bin/sh -c, an explicit opt-in), not both");
    } else if (!has_command && !has_shell) {
      error(hv.key + ".command", hv.line,
            "a hook needs `command: [\"/path/to/program\", \"arg\", ...]` (run directly, no "
            "shell) or, as an explicit opt-in, `shell: \"...\"` (run through /bin/sh -c)");
    }
    // A definition with any problem is left out (the load fails anyway), so
    // its statuses are not second-guessed with warnings.
    if (issues_.size() != errors_before) return;
    for (auto& s : statuses) pending_statuses_.push_back(std::move(s));
    cfg_.hooks.definitions.push_back(std::move(hook));
  }

  void parseHookOn(const Value& v, HookDefinition& hook, std::vector<PendingHookStatus>& statuses) {
    std::vector<std::pair<std::string, Value>> words;
    if (v.node.IsScalar()) {
      auto s = text(v, "a list of statuses or \"*\"");
      if (!s) return;
      words.emplace_back(*s, v);
    } else {
      auto items = list(v, "statuses (or \"*\")");
      if (!items) return;
      words = std::move(*items);
    }
    if (words.empty()) {
      error(v, "must list at least one status, or \"*\" for every change");
      return;
    }
    bool star =
        std::any_of(words.begin(), words.end(), [](const auto& w) { return w.first == "*"; });
    if (star) {
      if (words.size() > 1) {
        error(v, "\"*\" already means every status; do not combine it with other statuses");
        return;
      }
      hook.on = {"*"};
      return;
    }
    for (auto& [word, iv] : words) {
      if (!isStatusWord(word)) {
        error(iv, quoteForMessage(word) + " is not a valid status name" + std::string(kStatusRule));
        continue;
      }
      std::string lowered = status::toLower(word);
      if (std::find(hook.on.begin(), hook.on.end(), lowered) != hook.on.end()) continue;
      statuses.push_back(PendingHookStatus{iv.key, valueLine(iv), lowered});
      hook.on.push_back(std::move(lowered));
    }
  }

  void parseHookCommand(const Value& v, HookDefinition& hook) {
    if (v.node.IsScalar()) {
      error(v,
            "`command` is an argv list, e.g. [\"/usr/local/bin/notify\", \"--verbose\"], run "
            "without a shell; to run a command line through /bin/sh -c, write it as `shell: "
            "\"...\"` instead (an explicit opt-in)");
      return;
    }
    if (!v.node.IsSequence()) {
      error(v, v.node.IsNull() ? std::string("has no value (expected an argv list)")
                               : "expected an argv list, got " + yamlKind(v.node));
      return;
    }
    std::vector<std::string> argv;
    std::size_t i = 0;
    bool ok = true;
    for (const YAML::Node& item : v.node) {
      Value iv{item, v.key + "[" + std::to_string(i++) + "]", yamlLine(item, v.line)};
      auto s = scalar(iv, "a string");
      if (!s) {
        ok = false;
        continue;
      }
      if (s->find('\0') != std::string::npos) {
        error(iv, "contains a NUL character");
        ok = false;
        continue;
      }
      argv.push_back(*s);
    }
    if (!ok) return;
    if (argv.empty()) {
      error(v, "must not be empty: the first element is the program to run");
      return;
    }
    const std::string& program = argv.front();
    Value first{v.node[0], v.key + "[0]", yamlLine(v.node[0], v.line)};
    if (program.empty()) {
      error(first, "the program must not be empty");
      return;
    }
    if (program.front() != '/' && program.find('/') != std::string::npos) {
      error(first, "the program " + quoteForMessage(program) +
                       " must be an absolute path or a bare name looked up in PATH, not a "
                       "relative path");
      return;
    }
    hook.command = std::move(argv);
  }

  void parseMetrics(const Value& section) {
    walkMap(
        section,
        {
            {"listen",
             [&](const Value& v) {
               auto s = text(v, "host:port");
               if (!s) return;
               auto parsed = parseListen(*s);
               if (!parsed.ok()) {
                 error(v, "invalid listen address " + quoteForMessage(*s) + ": " +
                              parsed.error().message);
                 return;
               }
               cfg_.metrics.listen = *s;
             }},
            {"per_job_series", [&](const Value& v) { boolean(v, cfg_.metrics.per_job_series); }},
            {"per_job_limit",
             [&](const Value& v) { integerAtLeast(v, cfg_.metrics.per_job_limit, 0); }},
        },
        "metrics settings");
  }

  void parseLogging(const Value& section) {
    walkMap(
        section,
        {
            {"level",
             [&](const Value& v) {
               auto s = text(v, "a log level");
               if (s && !parseLogLevel(status::toLower(*s), cfg_.logging.level)) {
                 error(v, "unknown log level " + quoteForMessage(*s) +
                              " (expected trace, debug, info, warn or error)");
               }
             }},
            {"format",
             [&](const Value& v) {
               auto s = text(v, "a log format");
               if (s && !parseLogFormat(status::toLower(*s), cfg_.logging.format)) {
                 error(v, "unknown log format " + quoteForMessage(*s) + " (expected text or json)");
               }
             }},
        },
        "logging settings");
  }

  void parseShard(const Value& section) {
    walkMap(section,
            {
                {"index", [&](const Value& v) { integerAtLeast(v, cfg_.shard.index, 0); }},
                {"count", [&](const Value& v) { integerAtLeast(v, cfg_.shard.count, 1); }},
            },
            "shard settings");
  }

  // --- checks that span keys -----------------------------------------------

  void crossChecks() {
    checkBaseUrl();
    const PollConfig& poll = cfg_.poll;

    if (!isBad("poll.interval") && !isBad("poll.backoff_max") && poll.backoff_max < poll.interval) {
      const bool explicit_backoff = lineFor("poll.backoff_max") > 0;
      error(explicit_backoff ? "poll.backoff_max" : "poll.interval",
            explicit_backoff ? lineFor("poll.backoff_max") : lineFor("poll.interval"),
            "poll.backoff_max (" + formatDuration(poll.backoff_max) +
                ") must be at least poll.interval (" + formatDuration(poll.interval) + ")");
    }

    if (!isBad("shard.index") && !isBad("shard.count") && cfg_.shard.index >= cfg_.shard.count) {
      error("shard.index", lineFor("shard.index"),
            "must be less than shard.count (" + std::to_string(cfg_.shard.count) + "), got " +
                std::to_string(cfg_.shard.index));
    }

    if (!isBad("poll.interval") && !isBad("api.base_url") && poll.interval < kVendorMinInterval &&
        !base_url_loopback_) {
      warning("poll.interval", lineFor("poll.interval"),
              formatDuration(poll.interval) +
                  " is faster than the API vendor allows (never poll a job more often than every "
                  "2s); use this only against a local test API");
    }

    if (cfg_.api.connect_timeout > cfg_.api.request_timeout) {
      warning("api.connect_timeout", lineFor("api.connect_timeout"),
              "is longer than api.request_timeout (" + formatDuration(cfg_.api.request_timeout) +
                  "), which bounds the whole request");
    }

    if (!isBad("metrics.listen")) {
      auto listen = parseListen(cfg_.metrics.listen);
      if (listen.ok() && !listen.value().loopback) {
        warning("metrics.listen", lineFor("metrics.listen"),
                cfg_.metrics.listen +
                    " is reachable from other machines, and metrics name job IDs and hooks; bind "
                    "to 127.0.0.1 unless a firewall or proxy guards it");
      }
    }

    checkHookStatuses();
  }

  void checkBaseUrl() {
    if (!base_url_raw_) {
      base_url_loopback_ = false;
      return;
    }
    const std::string key = "api.base_url";
    const int line = lineFor(key);
    auto fail = [&](const std::string& message) {
      error(key, line, message);
      bad_.insert(key);
    };
    std::string url = *base_url_raw_;
    if (url.find_first_of(" \t") != std::string::npos) {
      fail("must not contain spaces");
      return;
    }
    auto sep = url.find("://");
    std::string scheme = sep == std::string::npos ? "" : status::toLower(url.substr(0, sep));
    if (scheme != "https" && scheme != "http") {
      fail(quoteForMessage(url) +
           " must start with https:// (or http:// together with allow_insecure_http: true)");
      return;
    }
    std::string rest = url.substr(sep + 3);
    if (rest.find_first_of("?#") != std::string::npos) {
      fail("must not contain a query (?) or fragment (#); job paths are appended to it");
      return;
    }
    std::string authority = rest.substr(0, rest.find('/'));
    std::string path = rest.substr(authority.size());
    if (authority.find('@') != std::string::npos) {
      fail(
          "must not contain user info (user:password@); the API key comes from api.api_key_file "
          "or api.api_key_env");
      return;
    }
    auto hp = splitHostPort(authority);
    if (!hp.ok()) {
      fail("invalid host in " + quoteForMessage(url) + ": " + hp.error().message);
      return;
    }
    const std::string& host = hp.value().host;
    bool bracketed = authority.front() == '[';
    bool host_ok = bracketed || std::all_of(host.begin(), host.end(), [](char c) {
                     return isAsciiAlnum(c) || c == '-' || c == '.' || c == '_';
                   });
    if (!host_ok) {
      fail("invalid host " + quoteForMessage(host) + " in " + quoteForMessage(url));
      return;
    }
    if (!hp.value().port.empty() && parsePort(hp.value().port).value_or(0) == 0) {
      fail("invalid port 0 in " + quoteForMessage(url));
      return;
    }
    base_url_loopback_ = isLoopbackHost(host);
    if (scheme == "http") {
      if (!cfg_.api.allow_insecure_http) {
        fail(
            "http:// would send the API key in clear text; use https://, or set "
            "api.allow_insecure_http: true (for tests against a local API)");
        return;
      }
      if (!base_url_loopback_) {
        warning(key, line,
                "plain http:// to a host other than this machine sends the API key in clear text");
      }
    }
    while (!path.empty() && path.back() == '/') path.pop_back();
    cfg_.api.base_url = scheme + "://" + authority + path;
  }

  void checkHookStatuses() {
    const auto& aliases = cfg_.poll.status_aliases;
    std::vector<std::string> known = status::builtinStatuses();
    for (const auto& s : cfg_.poll.extra_terminal_statuses) known.push_back(s);
    for (const auto& [from, to] : aliases) known.push_back(to);
    std::vector<std::string_view> known_views(known.begin(), known.end());
    for (const PendingHookStatus& p : pending_statuses_) {
      if (auto alias = aliases.find(p.status);
          alias != aliases.end() && alias->second != p.status) {
        warning(p.key, p.line,
                "`" + p.status + "` is an alias: the API's word is mapped to `" + alias->second +
                    "` before hooks are matched, so write `" + alias->second + "`");
        continue;
      }
      if (std::find(known.begin(), known.end(), p.status) != known.end()) continue;
      std::string message = "`" + p.status + "` is not a status jobwatchd knows";
      if (auto guess = closestWord(p.status, known_views)) {
        message += " (did you mean `" + std::string(*guess) + "`?)";
      }
      message += "; the hook runs only if the API reports exactly this word";
      warning(p.key, p.line, std::move(message));
    }
  }

  fs::path source_;
  fs::path base_dir_;
  Config cfg_;
  std::vector<ConfigIssue> issues_;
  std::vector<ConfigIssue> warnings_;
  std::map<std::string, int> lines_;  // dotted key -> line where it was set
  std::set<std::string> bad_;         // keys whose value was rejected
  std::optional<std::string> base_url_raw_;
  bool base_url_loopback_ = false;
  std::vector<PendingHookStatus> pending_statuses_;
};

std::string_view trimTrailingWhitespace(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
                        s.back() == '\r' || s.back() == '\v' || s.back() == '\f')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string ConfigIssue::toString() const {
  std::string out;
  if (!file.empty()) {
    out += file.string();
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

ConfigLoad loadConfigText(const std::string& yaml, const std::filesystem::path& source) {
  return ConfigParser(source).parse(yaml);
}

ConfigLoad loadConfigFile(const std::filesystem::path& path) {
  auto text = readBoundedFile(path, kMaxConfigBytes);
  if (!text.ok()) {
    ConfigLoad out;
    out.issues.push_back(ConfigIssue{path, 0, "", text.error().message});
    return out;
  }
  return loadConfigText(text.value(), path);
}

Result<std::filesystem::path> resolveApiKeyFile(const std::filesystem::path& configured) {
  const std::string text = configured.string();
  if (text.rfind(kCredentialsDirPrefix, 0) != 0) return configured;
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    return Error{"api.api_key_file is " + text +
                 ", but the environment variable CREDENTIALS_DIRECTORY is not set: systemd sets "
                 "it for a unit with LoadCredential= (see jobwatchd.service); outside systemd, "
                 "set it to the directory that holds the file, e.g. "
                 "CREDENTIALS_DIRECTORY=/etc/jobwatchd"};
  }
  return std::filesystem::path(dir) / text.substr(kCredentialsDirPrefix.size());
}

Result<std::string> readApiKey(const ApiConfig& api) {
  if (api.api_key_file) {
    auto file = resolveApiKeyFile(*api.api_key_file);
    if (!file.ok()) return Error{file.error().message};
    const std::string name = file.value().string();
    auto content = readBoundedFile(file.value(), kMaxApiKeyBytes);
    if (!content.ok()) return Error{"API key file " + name + ": " + content.error().message};
    std::string_view key = trimTrailingWhitespace(content.value());
    if (key.empty()) return Error{"API key file " + name + " is empty"};
    // A line break or control byte inside would end up in an HTTP header.
    if (hasControlChars(key)) {
      return Error{"API key file " + name +
                   " holds more than one line or control characters; it must hold only the key"};
    }
    return std::string(key);
  }
  const char* value = std::getenv(api.api_key_env.c_str());
  if (value == nullptr || *value == '\0') {
    return Error{"environment variable " + api.api_key_env +
                 " is not set or empty; set it, or point api.api_key_file at a file holding the "
                 "key (e.g. a systemd LoadCredential= credential)"};
  }
  std::string_view key = trimTrailingWhitespace(value);
  if (key.empty() || hasControlChars(key)) {
    return Error{"environment variable " + api.api_key_env +
                 " holds only whitespace or control characters; it must hold only the key"};
  }
  return std::string(key);
}

}  // namespace jobwatch::config
