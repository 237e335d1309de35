// SPDX-License-Identifier: Apache-2.0
#include "util/duration.h"

#include <gtest/gtest.h>

namespace jobwatch {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parseDuration("500ms").value(), 500ms);
  EXPECT_EQ(parseDuration("5s").value(), 5s);
  EXPECT_EQ(parseDuration("10m").value(), 10min);
  EXPECT_EQ(parseDuration("24h").value(), 24h);
  EXPECT_EQ(parseDuration("7d").value(), 168h);
}

TEST(ParseDuration, AcceptsCompoundsAndFractions) {
  EXPECT_EQ(parseDuration("1h30m").value(), 90min);
  EXPECT_EQ(parseDuration("1.5s").value(), 1500ms);
  EXPECT_EQ(parseDuration("0s").value(), 0ms);
}

TEST(ParseDuration, RejectsWithReason) {
  auto no_unit = parseDuration("5");
  ASSERT_FALSE(no_unit.ok());
  EXPECT_NE(no_unit.error().message.find("missing unit"), std::string::npos);
  auto bad_unit = parseDuration("5 s");
  ASSERT_FALSE(bad_unit.ok());
  auto weeks = parseDuration("2w");
  ASSERT_FALSE(weeks.ok());
  EXPECT_NE(weeks.error().message.find("unknown unit \"w\""), std::string::npos);
  EXPECT_FALSE(parseDuration("").ok());
  EXPECT_FALSE(parseDuration("-5s").ok());
  EXPECT_FALSE(parseDuration("1.2.3s").ok());
  EXPECT_FALSE(parseDuration("99999999999d").ok());
}

TEST(FormatDuration, IsCompact) {
  EXPECT_EQ(formatDuration(250ms), "250ms");
  EXPECT_EQ(formatDuration(90s), "1m30s");
  EXPECT_EQ(formatDuration(1500ms), "1.5s");
  EXPECT_EQ(formatDuration(48h), "2d");
}

}  // namespace
}  // namespace jobwatch
