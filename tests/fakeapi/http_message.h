// SPDX-License-Identifier: Apache-2.0
// HTTP/1.1 request-head parsing and response-head rendering for the fake API.
// The parser works on a caller-owned buffer and returns views into it, so a
// connection can reuse one buffer and one HttpRequest (its header vector keeps
// its capacity) for every request it serves.
//
// Thread-safety: pure functions; an HttpRequest belongs to one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fakeapi {

inline constexpr std::size_t kMaxRequestHeadBytes = 64 * 1024;

struct HttpHeader {
  std::string_view name;  // as sent; compare case-insensitively
  std::string_view value;
};

// Views into the buffer passed to parseRequestHead(); valid until it changes.
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // path plus optional "?query"
  std::string_view path;
  std::string_view query;  // without the '?'
  bool http10 = false;     // HTTP/1.0 (keep-alive must be announced)
  bool keep_alive = true;  // HTTP/1.1 default, or what Connection: says
  std::uint64_t content_length = 0;
  std::vector<HttpHeader> headers;

  // Value of the first header called `name` (ASCII case-insensitive), or
  // nullptr when absent.
  const std::string_view* header(std::string_view name) const;
};

enum class HeadParse {
  kComplete,     // head_length bytes form a valid head
  kIncomplete,   // need more bytes
  kMalformed,    // answer 400 and close
  kTooLarge,     // answer 431 and close
  kUnsupported,  // e.g. Transfer-Encoding: answer 501 and close
};

struct HeadResult {
  HeadParse status = HeadParse::kIncomplete;
  std::size_t head_length = 0;  // bytes up to and including the blank line
};

// Parses the request line and headers at the start of `buffer`. Fills
// `request` in place (an out-parameter on purpose: its header vector is
// reused across requests to avoid allocating).
[[nodiscard]] HeadResult parseRequestHead(std::string_view buffer, HttpRequest& request);

std::string_view reasonPhrase(int code);

struct ResponseHead {
  int code = 200;
  std::size_t content_length = 0;
  std::string_view content_type = "application/json";
  bool close = false;              // adds "Connection: close"
  bool keep_alive_header = false;  // adds "Connection: keep-alive" (HTTP/1.0 clients)
  std::string_view retry_after;    // added when non-empty
  std::string_view location;       // added when non-empty
  bool chunked = false;            // Transfer-Encoding: chunked instead of Content-Length
};

// Appends the status line, headers and blank line.
void appendResponseHead(std::string& out, const ResponseHead& head);

struct QueryParam {
  std::string name;
  std::string value;
};

// Splits "a=1&b=x%20y" into decoded pairs ('+' decodes to a space). Malformed
// escapes are kept literally. Decoding may produce any bytes, which is how
// tests send invalid UTF-8 through the admin API.
std::vector<QueryParam> parseQuery(std::string_view query);

}  // namespace fakeapi
