// SPDX-License-Identifier: Apache-2.0
#include "util/job_id.h"

#include <cstdio>

namespace jobwatch {
namespace {

bool isIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

bool isValidJobId(std::string_view id) {
  if (id.empty() || id.size() > kMaxJobIdLength) return false;
  for (char c : id) {
    if (!isIdChar(c)) return false;
  }
  return true;
}

std::string quoteForMessage(std::string_view text, size_t max_len) {
  std::string out = "\"";
  size_t shown = 0;
  for (char c : text) {
    if (shown++ == max_len) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string describeInvalidJobId(std::string_view id) {
  std::string why;
  if (id.empty()) {
    why = "is empty";
  } else if (id.size() > kMaxJobIdLength) {
    why = "is longer than 128 characters";
  } else {
    why = "contains characters other than A-Z a-z 0-9 _ -";
  }
  // At most 40 characters of it: a drop file's content reaches .reason files
  // and logs other people read (issue 18 #7).
  return "invalid job ID " + quoteForMessage(id, 40) + ": " + why;
}

}  // namespace jobwatch
