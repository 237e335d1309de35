// SPDX-License-Identifier: Apache-2.0
// The operator reports as JSON documents (`--json`, and the `data` of a
// control-socket answer). Times are RFC 3339 UTC strings with
// milliseconds, durations are milliseconds; every string is escaped.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "app/operator_report.h"

namespace jobwatch::app {

std::string formatTime(WallTime t);  // "2026-11-29T07:33:05.123Z"

std::string toJson(const StatusReport& report);
std::string toJson(const JobsReport& report);
std::string toJson(const JobDetail& detail);
std::string toJson(const HooksReport& report);

}  // namespace jobwatch::app
