// SPDX-License-Identifier: Apache-2.0
// Job IDs are untrusted input that ends up in URLs, argv, environment and
// paths. Only IDs matching ^[A-Za-z0-9_-]{1,128}$ are ever accepted.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace jobwatch {

inline constexpr size_t kMaxJobIdLength = 128;

bool isValidJobId(std::string_view id);

// Why an ID is invalid, for error messages; the ID itself is shown escaped
// and truncated so a hostile value cannot forge log lines.
std::string describeInvalidJobId(std::string_view id);

// Printable, bounded rendering of untrusted text for messages.
std::string quoteForMessage(std::string_view text, size_t max_len = 64);

}  // namespace jobwatch
