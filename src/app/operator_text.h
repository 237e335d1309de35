// SPDX-License-Identifier: Apache-2.0
// The operator reports as human tables, for a terminal. Untrusted strings
// (job fields from the API, hook output) have their control characters
// escaped, so they cannot move the cursor or change the terminal.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "app/operator_report.h"

namespace jobwatch::app {

// Control characters (C0, DEL and the C1 range U+0080..U+009F, which
// terminals also obey, e.g. U+009B as CSI) as \xNN, NN the code point, and
// bytes that are not UTF-8 as \xNN, NN the byte; cut to `max` bytes (with
// "...") when longer. The result is well-formed UTF-8.
std::string printable(std::string_view text, size_t max = 80);
// "3d4h", "5m12s", "800ms": a short age.
std::string shortAge(std::chrono::milliseconds age);

std::string toText(const StatusReport& report);
std::string toText(const JobsReport& report);
std::string toText(const JobDetail& detail);
std::string toText(const HooksReport& report);

}  // namespace jobwatch::app
