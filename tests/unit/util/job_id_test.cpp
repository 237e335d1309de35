// SPDX-License-Identifier: Apache-2.0
#include "util/job_id.h"

#include <gtest/gtest.h>

namespace jobwatch {
namespace {

TEST(JobId, AcceptsUuidsAndSafeNames) {
  EXPECT_TRUE(isValidJobId("b2094b38-e432-44b6-a5d0-67bed07d5de1"));
  EXPECT_TRUE(isValidJobId("job_1"));
  EXPECT_TRUE(isValidJobId(std::string(128, 'a')));
}

TEST(JobId, RejectsAnythingThatCouldEscape) {
  for (const char* bad :
       {"", "../etc", "a/b", "a%2Fb", "a b", "a\nb", "$(rm)", "a;b", "a`b", "é"}) {
    EXPECT_FALSE(isValidJobId(bad)) << bad;
  }
  EXPECT_FALSE(isValidJobId(std::string(129, 'a')));
}

TEST(JobId, DescriptionEscapesControlCharacters) {
  std::string d = describeInvalidJobId("a\nb\"c");
  EXPECT_EQ(d.find('\n'), std::string::npos);
  EXPECT_NE(d.find("\\x0a"), std::string::npos);
  EXPECT_NE(d.find("\\\""), std::string::npos);
}

}  // namespace
}  // namespace jobwatch
