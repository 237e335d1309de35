// SPDX-License-Identifier: Apache-2.0
#include "config/names.h"

#include <algorithm>

#include "util/job_id.h"

namespace jobwatch::config {
namespace {

bool isAsciiAlpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Letters, digits, _ - and .: the characters of status words and plain keys.
bool isWordChar(char c) { return isAsciiAlnum(c) || c == '_' || c == '-' || c == '.'; }

bool isAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

bool isAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool isAsciiAlnum(char c) { return isAsciiAlpha(c) || isAsciiDigit(c); }

bool hasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string_view trimTrailingSpace(std::string_view s) {
  while (!s.empty() && isAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view trimSpace(std::string_view s) {
  while (!s.empty() && isAsciiSpace(s.front())) s.remove_prefix(1);
  return trimTrailingSpace(s);
}

std::string displayName(std::string_view name) {
  bool plain = !name.empty() && std::all_of(name.begin(), name.end(), isWordChar);
  return plain ? std::string(name) : quoteForMessage(name, 64);
}

bool isStatusWord(std::string_view s) {
  return !s.empty() && s.size() <= kMaxNameLength && std::all_of(s.begin(), s.end(), isWordChar);
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

bool isInstanceName(std::string_view s) { return isStatusWord(s) && isAsciiAlnum(s.front()); }

}  // namespace jobwatch::config
