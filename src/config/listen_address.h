// SPDX-License-Identifier: Apache-2.0
// metrics.listen: the address the metrics exporter binds, "host:port" with
// an IPv4 address, "[IPv6 address]" or localhost, and whether only this
// machine can reach it.
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "util/result.h"

namespace jobwatch::config {

struct ListenAddress {
  bool loopback = false;  // reachable from this machine only
};

// Errors read after "invalid listen address '...': ".
[[nodiscard]] Result<ListenAddress> parseListen(std::string_view text);

}  // namespace jobwatch::config
