// SPDX-License-Identifier: Apache-2.0
#include "config/listen_address.h"

#include <string>

#include "config/host_port.h"
#include "status/job_status.h"
#include "util/job_id.h"

namespace jobwatch::config {

Result<ListenAddress> parseListen(std::string_view text) {
  if (text.empty()) return Error{"is empty; expected host:port, e.g. 127.0.0.1:9464"};
  auto split = splitHostPort(text);
  if (!split.ok())
    return Error{split.error().message + " (expected host:port, e.g. 127.0.0.1:9464)"};
  const HostPort& hp = split.value();
  if (hp.port.empty()) return Error{"missing port (expected host:port, e.g. 127.0.0.1:9464)"};
  bool bracketed = text.front() == '[';
  if (!bracketed && !isIpv4(hp.host) && status::toLower(hp.host) != "localhost") {
    return Error{"host " + quoteForMessage(hp.host) +
                 " must be an IPv4 address, [IPv6 address] or localhost"};
  }
  return ListenAddress{isLoopbackHost(hp.host)};
}

}  // namespace jobwatch::config
