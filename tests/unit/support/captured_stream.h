// SPDX-License-Identifier: Apache-2.0
// A log sink tests can read while other threads write to it: every write
// and read takes one mutex (a std::ostringstream read during a write is a
// data race, which ThreadSanitizer reports).
#pragma once

#include <mutex>
#include <ostream>
#include <streambuf>
#include <string>

namespace jobwatch::testing_support {

class CapturedStream {
 public:
  CapturedStream() : stream_(&buf_) {}
  std::ostream& stream() { return stream_; }
  std::string text() { return buf_.text(); }
  size_t count(const std::string& needle) {
    std::string t = text();
    size_t n = 0;
    for (size_t pos = t.find(needle); pos != std::string::npos; pos = t.find(needle, pos + 1)) ++n;
    return n;
  }

 private:
  class Buf : public std::streambuf {
   public:
    std::string text() {
      std::lock_guard lock(mu_);
      return data_;
    }

   protected:
    int_type overflow(int_type c) override {
      if (c != traits_type::eof()) {
        std::lock_guard lock(mu_);
        data_ += static_cast<char>(c);
      }
      return c;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
      std::lock_guard lock(mu_);
      data_.append(s, static_cast<size_t>(n));
      return n;
    }

   private:
    std::mutex mu_;
    std::string data_;
  };
  Buf buf_;
  std::ostream stream_;
};

}  // namespace jobwatch::testing_support
