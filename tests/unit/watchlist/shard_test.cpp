// SPDX-License-Identifier: Apache-2.0
#include "watchlist/shard.h"

#include <gtest/gtest.h>

#include <string>

namespace jobwatch::watchlist {
namespace {

TEST(Shard, HashIsPinnedFnv1a64) {
  // Published FNV-1a 64 test vectors: never change these.
  static_assert(shardHash("") == 0xcbf29ce484222325ull);
  static_assert(shardHash("a") == 0xaf63dc4c8601ec8cull);
  static_assert(shardHash("foobar") == 0x85944171f73967e8ull);
  EXPECT_EQ(shardHash("b2094b38-e432-44b6-a5d0-67bed07d5de1") % 2,
            shardHash("b2094b38-e432-44b6-a5d0-67bed07d5de1") % 2);
}

TEST(Shard, EveryIdBelongsToExactlyOneShardAndShardsAreBalanced) {
  const int count = 3;
  int per_shard[count] = {};
  for (int i = 0; i < 3000; ++i) {
    const std::string id = "job-" + std::to_string(i);
    int owners = 0;
    for (int index = 0; index < count; ++index) {
      if (inShard(id, index, count)) {
        ++owners;
        ++per_shard[index];
      }
    }
    ASSERT_EQ(owners, 1) << id;
  }
  for (int n : per_shard) EXPECT_NEAR(n, 1000, 150);
}

TEST(Shard, OneShardTakesEverything) {
  EXPECT_TRUE(inShard("anything", 0, 1));
  EXPECT_TRUE(inShard("anything", 0, 0));
}

}  // namespace
}  // namespace jobwatch::watchlist
