// SPDX-License-Identifier: Apache-2.0
// api.base_url: the URL job paths are appended to. Checks what would make
// it unsafe or unusable (plain http without an opt-in, user info, a query,
// a bad host or port) and normalises it (lowercase scheme, no trailing '/').
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace jobwatch::config {

struct BaseUrl {
  std::string url;                     // lowercase scheme, no trailing '/'
  bool loopback = false;               // the host is this machine
  std::optional<std::string> warning;  // plain http:// to another machine
};

// Errors are whole messages for the key api.base_url.
[[nodiscard]] Result<BaseUrl> checkBaseUrl(const std::string& url, bool allow_insecure_http);

}  // namespace jobwatch::config
