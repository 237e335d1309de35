// SPDX-License-Identifier: Apache-2.0
#include "http_message.h"

#include "json_text.h"

namespace fakeapi {

namespace {

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// True when the comma-separated header value lists `token` (case-insensitive).
bool listsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view item = trimOws(value.substr(0, comma));
    if (equalsIgnoreCase(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool parseContentLength(std::string_view text, std::uint64_t& value) {
  if (text.empty() || text.size() > 18) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  value = v;
  return true;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
               hexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

const std::string_view* HttpRequest::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

HeadResult parseRequestHead(std::string_view buffer, HttpRequest& request) {
  const std::size_t end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    return {buffer.size() > kMaxRequestHeadBytes ? HeadParse::kTooLarge : HeadParse::kIncomplete,
            0};
  }
  if (end + 4 > kMaxRequestHeadBytes) return {HeadParse::kTooLarge, 0};
  const HeadResult malformed{HeadParse::kMalformed, 0};
  std::string_view head = buffer.substr(0, end + 2);  // every line ends in CRLF

  // Request line: METHOD SP TARGET SP HTTP/1.x
  std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  head.remove_prefix(eol + 2);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return malformed;
  request.method = line.substr(0, sp1);
  request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(request.method) || request.target.empty()) return malformed;
  for (char c : request.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return malformed;
  }
  bool http10 = false;
  if (version == "HTTP/1.0") {
    http10 = true;
  } else if (version != "HTTP/1.1") {
    return malformed;
  }
  const std::size_t q = request.target.find('?');
  request.path = request.target.substr(0, q);
  request.query = q == std::string_view::npos ? std::string_view{} : request.target.substr(q + 1);

  request.headers.clear();
  request.content_length = 0;
  bool have_length = false;
  bool close = http10;
  while (!head.empty()) {
    eol = head.find("\r\n");
    const std::string_view field = head.substr(0, eol);
    head.remove_prefix(eol + 2);
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) return malformed;  // also rejects obs-fold
    const std::string_view name = field.substr(0, colon);
    if (!isToken(name)) return malformed;
    const std::string_view value = trimOws(field.substr(colon + 1));
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') return malformed;
    }
    request.headers.push_back({name, value});
    if (equalsIgnoreCase(name, "content-length")) {
      std::uint64_t length = 0;
      if (!parseContentLength(value, length)) return malformed;
      if (have_length && length != request.content_length) return malformed;
      have_length = true;
      request.content_length = length;
    } else if (equalsIgnoreCase(name, "transfer-encoding")) {
      return {HeadParse::kUnsupported, 0};
    } else if (equalsIgnoreCase(name, "connection")) {
      if (listsToken(value, "close")) {
        close = true;
      } else if (listsToken(value, "keep-alive")) {
        close = false;
      }
    }
  }
  request.http10 = http10;
  request.keep_alive = !close;
  return {HeadParse::kComplete, end + 4};
}

std::string_view reasonPhrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 413:
      return "Content Too Large";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

void appendResponseHead(std::string& out, const ResponseHead& head) {
  out.append("HTTP/1.1 ");
  appendUnsigned(out, static_cast<std::uint64_t>(head.code));
  out.push_back(' ');
  out.append(reasonPhrase(head.code));
  out.append("\r\nContent-Type: ");
  out.append(head.content_type);
  if (head.chunked) {
    out.append("\r\nTransfer-Encoding: chunked");
  } else {
    out.append("\r\nContent-Length: ");
    appendUnsigned(out, head.content_length);
  }
  if (!head.retry_after.empty()) {
    out.append("\r\nRetry-After: ");
    out.append(head.retry_after);
  }
  if (!head.location.empty()) {
    out.append("\r\nLocation: ");
    out.append(head.location);
  }
  if (head.close) {
    out.append("\r\nConnection: close");
  } else if (head.keep_alive_header) {
    out.append("\r\nConnection: keep-alive");
  }
  out.append("\r\n\r\n");
}

std::vector<QueryParam> parseQuery(std::string_view query) {
  std::vector<QueryParam> params;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const std::size_t eq = pair.find('=');
      QueryParam param;
      param.name = percentDecode(pair.substr(0, eq));
      if (eq != std::string_view::npos) param.value = percentDecode(pair.substr(eq + 1));
      params.push_back(std::move(param));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return params;
}

}  // namespace fakeapi
