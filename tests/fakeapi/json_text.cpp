// SPDX-License-Identifier: Apache-2.0
#include "json_text.h"

#include <charconv>
#include <ctime>

namespace fakeapi {

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t clean_from = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.substr(clean_from, i - clean_from));
    clean_from = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(text.substr(clean_from));
  out.push_back('"');
}

void appendJsonStringOrNull(std::string& out, const std::string* text) {
  if (text == nullptr) {
    out.append("null");
  } else {
    appendJsonString(out, *text);
  }
}

void appendUnsigned(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;  // 24 chars always fit a uint64
  out.append(digits, end);
}

namespace {

void appendPadded(std::string& out, unsigned value, int width) {
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && n < 12);
  for (int i = n; i < width; ++i) out.push_back('0');
  while (n > 0) out.push_back(digits[--n]);
}

}  // namespace

std::int64_t toEpochMillis(WallTime time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

void appendIsoTime(std::string& out, WallTime time) {
  const std::int64_t ms = toEpochMillis(time);
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  appendPadded(out, static_cast<unsigned>(tm.tm_year + 1900), 4);
  out.push_back('-');
  appendPadded(out, static_cast<unsigned>(tm.tm_mon + 1), 2);
  out.push_back('-');
  appendPadded(out, static_cast<unsigned>(tm.tm_mday), 2);
  out.push_back('T');
  appendPadded(out, static_cast<unsigned>(tm.tm_hour), 2);
  out.push_back(':');
  appendPadded(out, static_cast<unsigned>(tm.tm_min), 2);
  out.push_back(':');
  appendPadded(out, static_cast<unsigned>(tm.tm_sec), 2);
  out.push_back('.');
  appendPadded(out, static_cast<unsigned>(frac), 3);
  out.push_back('Z');
}

void appendEpochSeconds(std::string& out, std::int64_t epoch_ms) {
  if (epoch_ms < 0) epoch_ms = 0;  // the fake never serves before 1970
  appendUnsigned(out, static_cast<std::uint64_t>(epoch_ms / 1000));
  out.push_back('.');
  appendPadded(out, static_cast<unsigned>(epoch_ms % 1000), 3);
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace fakeapi
