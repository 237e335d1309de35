// SPDX-License-Identifier: Apache-2.0
// What counts as a well-formed name in a config: status words, hook names,
// HTTP header names, environment variable names; and how a key read from the
// file is shown in a message without letting it forge output.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jobwatch::config {

// Names that end up in metrics labels, headers and hook environments stay short.
inline constexpr std::size_t kMaxNameLength = 64;

// How a status name must look, appended to messages that reject one.
inline constexpr std::string_view kStatusRule =
    " (letters, digits, _ - and ., at most 64 characters)";

bool isAsciiDigit(char c);
bool isAsciiAlnum(char c);

// Bytes below 0x20 and DEL: never wanted in a value that reaches a header or log.
bool hasControlChars(std::string_view s);

// A secret read from a file or the environment without the ASCII
// whitespace (space, \t \n \r \v \f) around it: at its end only, or at both.
std::string_view trimTrailingSpace(std::string_view s);
std::string_view trimSpace(std::string_view s);

// A key as written, or quoted and escaped when it holds anything unusual.
std::string displayName(std::string_view name);

// Status words: what the API says and what the daemon says. They end up in
// metrics labels and hook environments, so they stay plain.
bool isStatusWord(std::string_view s);
bool isHookName(std::string_view s);
bool isHeaderName(std::string_view s);
bool isEnvName(std::string_view s);
// state.instance: letters, digits, '.', '-' and '_', starting with a letter
// or digit, at most 64 (a host name fits).
bool isInstanceName(std::string_view s);

}  // namespace jobwatch::config
