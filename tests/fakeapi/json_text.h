// SPDX-License-Identifier: Apache-2.0
// Small JSON and time text helpers for the fake API's hand-rendered bodies.
// Everything appends to a caller-owned std::string so the request path can
// reuse one buffer per connection and not allocate in the steady state.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace fakeapi {

using WallTime = std::chrono::system_clock::time_point;

// Appends `text` as a quoted JSON string. Quotes, backslashes and control
// characters are escaped; other bytes (including invalid UTF-8 a scenario
// asks for on purpose) are copied as they are.
void appendJsonString(std::string& out, std::string_view text);

// Appends `"text"` or `null`.
void appendJsonStringOrNull(std::string& out, const std::string* text);

// Appends an unsigned decimal number.
void appendUnsigned(std::string& out, std::uint64_t value);

// Appends ISO 8601 UTC with milliseconds: 2024-01-15T10:30:00.000Z (unquoted).
void appendIsoTime(std::string& out, WallTime time);

// Appends UNIX epoch seconds with millisecond precision: 1763880000.123.
void appendEpochSeconds(std::string& out, std::int64_t epoch_ms);

// Milliseconds since the UNIX epoch.
std::int64_t toEpochMillis(WallTime time);

// ASCII case-insensitive equality.
bool equalsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace fakeapi
