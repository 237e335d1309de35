// SPDX-License-Identifier: Apache-2.0
// Account names (SPEC "Accounts"): `api:` is the account named "default";
// each `accounts:` entry, watch entry and drop file may name another. A
// name matches ^[a-z0-9_-]{1,32}$: it ends up in metrics labels, hook
// environments and the state database. Shared by config/ and watchlist/.
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace jobwatch {

inline constexpr std::string_view kDefaultAccount = "default";
inline constexpr std::size_t kMaxAccountNameLength = 32;

// How an account name must look, appended to messages that reject one.
inline constexpr std::string_view kAccountNameRule =
    " (lowercase letters, digits, _ and -, 1 to 32 characters)";

inline bool isAccountName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxAccountNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

// "" (an entry that names no account) and "default" are the same account.
inline bool sameAccount(std::string_view a, std::string_view b) {
  auto normal = [](std::string_view n) { return n.empty() ? kDefaultAccount : n; };
  return normal(a) == normal(b);
}

}  // namespace jobwatch
