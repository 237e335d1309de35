// SPDX-License-Identifier: Apache-2.0
// Sharding: several jobwatchd instances split one watch list with no
// coordination. An instance with shard {index, count} watches exactly the
// IDs whose stable hash modulo count equals index.
//
// The hash is 64-bit FNV-1a over the ID's bytes (offset basis
// 14695981039346656037, prime 1099511628211), so it is the same on every
// platform, compiler and jobwatchd version. Documented in the README; the
// test pins known values so it can never drift.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace jobwatch::watchlist {

constexpr std::uint64_t shardHash(std::string_view id) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

constexpr bool inShard(std::string_view id, int index, int count) {
  return count <= 1 ||
         shardHash(id) % static_cast<std::uint64_t>(count) == static_cast<std::uint64_t>(index);
}

}  // namespace jobwatch::watchlist
