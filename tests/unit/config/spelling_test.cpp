// SPDX-License-Identifier: Apache-2.0
// Did-you-mean: edit distance and the closest known word.
#include "config/spelling.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace jobwatch::config {
namespace {

TEST(EditDistance, CountsInsertionsDeletionsSubstitutionsAndTranspositions) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("interval", "interval"), 0u);
  EXPECT_EQ(editDistance("intreval", "interval"), 1u);  // adjacent transposition
  EXPECT_EQ(editDistance("intervl", "interval"), 1u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

TEST(ClosestWord, WithinTwoEditsCaseInsensitively) {
  const std::vector<std::string_view> known = {"interval", "jitter", "backoff_max"};
  EXPECT_EQ(closestWord("Intreval", known), std::string_view("interval"));
  EXPECT_EQ(closestWord("jiter", known), std::string_view("jitter"));
  EXPECT_EQ(closestWord("timeout", known), std::nullopt);
}

TEST(ClosestWord, ShortWordsNeedFewerEdits) {
  // Two edits would turn any two-letter word into "on".
  EXPECT_EQ(closestWord("xy", {"on"}), std::nullopt);
  EXPECT_EQ(closestWord("of", {"on"}), std::string_view("on"));
}

TEST(JoinWords, CommaSeparated) {
  EXPECT_EQ(joinWords({}), "");
  EXPECT_EQ(joinWords({"a", "b", "c"}), "a, b, c");
}

}  // namespace
}  // namespace jobwatch::config
