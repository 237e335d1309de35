// SPDX-License-Identifier: Apache-2.0
// JsonWriter: builds one compact JSON document in a string, escaping every
// string (appendJsonEscaped), so untrusted text (job fields from the API,
// hook output) can never break the document's structure. Commas are placed
// by the writer; the caller only nests begin/end calls correctly.
//
// Thread-safety: one writer per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/log.h"

namespace jobwatch {

class JsonWriter {
 public:
  JsonWriter& beginObject() { return open('{'); }
  JsonWriter& endObject() { return close('}'); }
  JsonWriter& beginArray() { return open('['); }
  JsonWriter& endArray() { return close(']'); }
  JsonWriter& key(std::string_view name) {
    separate();
    appendString(name);
    out_ += ':';
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(std::string_view text) {
    separate();
    appendString(text);
    return *this;
  }
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(std::int64_t n) {
    separate();
    out_ += std::to_string(n);
    return *this;
  }
  JsonWriter& value(int n) { return value(std::int64_t{n}); }
  JsonWriter& value(size_t n) {
    separate();
    out_ += std::to_string(n);
    return *this;
  }
  JsonWriter& value(bool b) {
    separate();
    out_ += b ? "true" : "false";
    return *this;
  }
  JsonWriter& null() {
    separate();
    out_ += "null";
    return *this;
  }
  // A value that is already JSON (written by another JsonWriter).
  JsonWriter& raw(std::string_view json) {
    separate();
    out_ += json;
    return *this;
  }
  // key(name).value(v), for brevity.
  template <typename T>
  JsonWriter& field(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
    }
  }
  JsonWriter& open(char c) {
    separate();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    if (!first_.empty()) first_.pop_back();
    return *this;
  }
  // Invalid UTF-8 (hook output may hold any bytes) becomes U+FFFD, so
  // every reader can parse the document.
  void appendString(std::string_view text) {
    out_ += '"';
    size_t start = 0;
    size_t i = 0;
    while (i < text.size()) {
      const size_t n = validSequence(text.substr(i));
      if (n > 0) {
        i += n;
        continue;
      }
      appendJsonEscaped(out_, text.substr(start, i - start));
      out_ += "\\ufffd";
      start = ++i;
    }
    appendJsonEscaped(out_, text.substr(start));
    out_ += '"';
  }
  // Length of the valid UTF-8 sequence at the start of `s`, 0 if invalid.
  static size_t validSequence(std::string_view s) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
    const unsigned char c = b(0);
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
      if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xF0 && b(1) < 0x90) return 0;
      if (c == 0xF4 && b(1) >= 0x90) return 0;
      return 4;
    }
    return 0;
  }

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace jobwatch
