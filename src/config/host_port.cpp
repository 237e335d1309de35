// SPDX-License-Identifier: Apache-2.0
#include "config/host_port.h"

#include <arpa/inet.h>

#include <charconv>
#include <system_error>

#include "status/job_status.h"
#include "util/job_id.h"

namespace jobwatch::config {

bool isIpv4(const std::string& s) {
  in_addr addr{};
  return inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool isIpv6(const std::string& s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

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

}  // namespace jobwatch::config
