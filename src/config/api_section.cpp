// SPDX-License-Identifier: Apache-2.0
// The `api` section: where the API is, how to authenticate, how hard to push it.

#include <charconv>
#include <cmath>
#include <system_error>

#include "config/api_key.h"
#include "config/names.h"
#include "config/sections.h"
#include "util/job_id.h"

namespace jobwatch::config {
namespace {

// One side of "N/unit": a finite number >= 0, spaces around allowed.
bool rateNumber(std::string_view part, double& out) {
  while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
  while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
  auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), out);
  return !part.empty() && ec == std::errc() && ptr == part.data() + part.size() &&
         std::isfinite(out) && out >= 0;
}

void readRateLimit(SchemaReader& r, const Value& v, RateLimit& rate) {
  auto s = r.scalar(v, "a rate such as 100/min or 2/s, or 0 for off");
  if (!s) return;
  const std::string& text = *s;
  const std::string usage = " (expected N/s or N/min, e.g. 100/min, or 0 for off)";
  auto slash = text.find('/');
  double n = 0;
  if (slash == std::string::npos) {
    if (rateNumber(text, n) && n == 0) {
      rate.per_second = 0;
    } else {
      r.error(v, "invalid rate " + quoteForMessage(text) + ": missing unit" + usage);
    }
    return;
  }
  if (!rateNumber(std::string_view(text).substr(0, slash), n)) {
    r.error(v, "invalid rate " + quoteForMessage(text) + ": bad number" + usage);
    return;
  }
  std::string unit = text.substr(slash + 1);
  unit.erase(0, unit.find_first_not_of(' '));
  if (unit == "s") {
    rate.per_second = n;
    rate.window = seconds(1);
  } else if (unit == "min") {
    rate.per_second = n / 60.0;
    rate.window = minutes(1);
  } else {
    r.error(v, "invalid rate " + quoteForMessage(text) + ": unknown unit " + quoteForMessage(unit) +
                   usage);
  }
}

// A name that must pass `valid`; `rule` follows the quoted value when it does not.
void readName(SchemaReader& r, const Value& v, std::string_view expected,
              bool (*valid)(std::string_view), std::string_view rule, std::string& out) {
  auto s = r.text(v, expected);
  if (!s) return;
  if (!valid(*s)) {
    r.error(v, quoteForMessage(*s) + std::string(rule));
    return;
  }
  out = *s;
}

}  // namespace

void readCredentialFile(SchemaReader& r, const Value& v,
                        std::optional<std::filesystem::path>& out) {
  if (v.node.IsScalar()) {
    if (auto credential = credentialReference(v.node.Scalar())) {
      if (credential->ok()) {
        out = credential->value();
      } else {
        r.error(v, credential->error().message);
      }
      return;
    }
  }
  r.optionalPath(v, out);
}

std::vector<Field> apiFields(SchemaReader& r, ApiConfig& api, int& threads,
                             std::optional<std::string>& base_url) {
  return {
      {"base_url",
       [&](const Value& v) {
         if (auto s = r.text(v, "an https:// URL")) base_url = *s;
       }},
      {"api_key_file", [&](const Value& v) { readCredentialFile(r, v, api.api_key_file); }},
      {"api_key_env",
       [&](const Value& v) {
         readName(r, v, "an environment variable name", isEnvName,
                  " is not a valid environment variable name (letters, digits and _, not "
                  "starting with a digit)",
                  api.api_key_env);
       }},
      {"key_header",
       [&](const Value& v) {
         readName(r, v, "an HTTP header name", isHeaderName,
                  " is not a valid HTTP header name (letters, digits and -)", api.key_header);
       }},
      {"rate_limit", [&](const Value& v) { readRateLimit(r, v, api.rate_limit); }},
      {"request_timeout", [&](const Value& v) { r.positiveDuration(v, api.request_timeout); }},
      {"connect_timeout", [&](const Value& v) { r.positiveDuration(v, api.connect_timeout); }},
      {"max_concurrent_requests",
       [&](const Value& v) { r.integerInRange(v, api.max_concurrent_requests, 1, 1024); }},
      {"allow_insecure_http", [&](const Value& v) { r.boolean(v, api.allow_insecure_http); }},
      {"threads", [&](const Value& v) { r.integerInRange(v, threads, 1, kMaxAccountThreads); }},
  };
}

void parseApiSection(SchemaReader& r, const Value& section, ApiConfig& api, int& threads,
                     DeferredChecks& later) {
  r.walkMap(section, apiFields(r, api, threads, later.base_url), "API settings");
}

}  // namespace jobwatch::config
