// SPDX-License-Identifier: Apache-2.0
#include "status/job_status.h"

#include <gtest/gtest.h>

namespace jobwatch::status {
namespace {

TEST(StatusMapper, MatchesApiWordsCaseInsensitively) {
  StatusMapper m;
  EXPECT_EQ(m.map("queued").name, "queued");
  EXPECT_EQ(m.map("PROCESSING").name, "processing");
  auto done = m.map("Completed");
  EXPECT_EQ(done.name, "completed");
  EXPECT_TRUE(done.terminal);
  EXPECT_TRUE(m.map("FAILED").terminal);
  EXPECT_FALSE(m.map("queued").terminal);
}

TEST(StatusMapper, AppliesBuiltinAliasesAndExtraTerminal) {
  StatusMapper m;
  EXPECT_EQ(m.map("Succeeded").name, "completed");
  EXPECT_TRUE(m.map("Succeeded").terminal);
  EXPECT_EQ(m.map("Starting").name, "queued");
  auto cancelled = m.map("Cancelled");
  EXPECT_EQ(cancelled.name, "cancelled");
  EXPECT_TRUE(cancelled.terminal);
  EXPECT_TRUE(cancelled.recognised);
}

TEST(StatusMapper, KeepsUnknownWordsLowercasedAndNonTerminal) {
  StatusMapper m;
  auto review = m.map("Review");
  EXPECT_EQ(review.name, "review");
  EXPECT_FALSE(review.terminal);
  EXPECT_FALSE(review.recognised);
}

TEST(StatusMapper, ConfiguredAliasesReplaceDefaults) {
  StatusMapper m({{"Review", "processing"}}, {"aborted"});
  EXPECT_EQ(m.map("REVIEW").name, "processing");
  EXPECT_TRUE(m.map("aborted").terminal);
  EXPECT_EQ(m.map("succeeded").name, "succeeded");
}

}  // namespace
}  // namespace jobwatch::status
