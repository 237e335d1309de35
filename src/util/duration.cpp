// SPDX-License-Identifier: Apache-2.0
#include "util/duration.h"

#include <cctype>
#include <cmath>
#include <limits>

namespace jobwatch {
namespace {

// Milliseconds per unit, or 0 for an unknown unit.
double unitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1e3;
  if (unit == "m") return 60e3;
  if (unit == "h") return 3600e3;
  if (unit == "d") return 86400e3;
  return 0;
}

}  // namespace

Result<Millis> parseDuration(std::string_view text) {
  std::string shown;
  shown.reserve(66);
  shown.append(1, '"').append(text.substr(0, 64)).append(1, '"');
  if (text.empty()) return Error{"empty duration (expected e.g. 500ms, 5s, 10m, 24h, 7d)"};
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start) {
      return Error{"invalid duration " + shown + ": expected a number (e.g. 5s, 10m, 24h)"};
    }
    std::string number(text.substr(start, i - start));
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      return Error{"invalid duration " + shown + ": missing unit (ms, s, m, h or d)"};
    }
    double per = unitMillis(unit);
    if (per == 0) {
      return Error{"invalid duration " + shown + ": unknown unit \"" + std::string(unit) +
                   "\" (ms, s, m, h or d)"};
    }
    char* end = nullptr;
    double value = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !std::isfinite(value)) {
      std::string message = "invalid duration ";
      message.append(shown).append(": bad number \"").append(number).append("\"");
      return Error{std::move(message)};
    }
    total += value * per;
  }
  // Ten years is far beyond any sensible setting and keeps arithmetic safe.
  if (total > 10.0 * 365 * 86400e3) return Error{"duration " + shown + " is too long"};
  return Millis(static_cast<Millis::rep>(std::llround(total)));
}

std::string formatDuration(Millis d) {
  auto ms = d.count();
  if (ms < 0) return "-" + formatDuration(Millis(-ms));
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  auto emit = [&](long long unit, const char* name) {
    if (ms >= unit) {
      out += std::to_string(ms / unit) + name;
      ms %= unit;
    }
  };
  emit(86400000, "d");
  emit(3600000, "h");
  emit(60000, "m");
  if (ms >= 1000 && ms % 1000 == 0) {
    emit(1000, "s");
  } else if (ms > 0) {
    // Sub-second remainders: one decimal of seconds is enough for people.
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
    out += buf;
    ms = 0;
  }
  return out;
}

}  // namespace jobwatch
