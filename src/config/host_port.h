// SPDX-License-Identifier: Apache-2.0
// Hosts and ports as operators write them in a config: "host", "host:port",
// "[v6]" and "[v6]:port"; which hosts are IP addresses and which are this
// machine. Shared by metrics.listen and api.base_url.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace jobwatch::config {

struct HostPort {
  std::string host;  // IPv6 without brackets
  std::string port;  // may be empty when optional
};

// Splits "host", "host:port", "[v6]" or "[v6]:port". Errors say what is wrong.
[[nodiscard]] Result<HostPort> splitHostPort(std::string_view text);

// A decimal port 0..65535, nothing else.
std::optional<int> parsePort(std::string_view s);

bool isIpv4(const std::string& s);
bool isIpv6(const std::string& s);

// Host as written in a URL or listen address (IPv6 without brackets):
// localhost, ::1 or 127.x.y.z.
bool isLoopbackHost(const std::string& host);

}  // namespace jobwatch::config
