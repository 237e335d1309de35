// SPDX-License-Identifier: Apache-2.0
// Durations as operators write them in config: a number with a unit
// ("500ms", "5s", "10m", "24h", "7d"), optionally several ("1h30m").
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/result.h"

namespace jobwatch {

using Millis = std::chrono::milliseconds;

// Parses a duration. Fractions are allowed ("1.5s"); negative values are not.
[[nodiscard]] Result<Millis> parseDuration(std::string_view text);

// Renders a duration compactly for logs and messages ("1m30s", "250ms").
std::string formatDuration(Millis d);

}  // namespace jobwatch
