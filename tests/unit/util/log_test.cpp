// SPDX-License-Identifier: Apache-2.0
#include "util/log.h"

#include <gtest/gtest.h>

#include <sstream>

namespace jobwatch {
namespace {

TEST(Log, TextRendersFieldsAndQuotesWhenNeeded) {
  std::ostringstream out;
  Log log(LogFormat::kText, LogLevel::kInfo, out);
  log.info("status change", {{"job_id", "j1"}, {"pdf_name", "a b.pdf"}});
  std::string line = out.str();
  EXPECT_NE(line.find(" info  status change job_id=j1 pdf_name=\"a b.pdf\"\n"), std::string::npos)
      << line;
}

TEST(Log, JsonIsOneObjectPerLineWithEscapes) {
  std::ostringstream out;
  Log log(LogFormat::kJson, LogLevel::kInfo, out);
  log.warn("odd", {{"error", "line1\nline2 \"q\""}});
  std::string line = out.str();
  EXPECT_EQ(line.front(), '{');
  EXPECT_NE(line.find(R"("level":"warning","msg":"odd","error":"line1\nline2 \"q\""})"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(Log, LevelFilters) {
  std::ostringstream out;
  Log log(LogFormat::kText, LogLevel::kWarn, out);
  log.info("hidden");
  log.error("shown");
  EXPECT_EQ(out.str().find("hidden"), std::string::npos);
  EXPECT_NE(out.str().find("shown"), std::string::npos);
  log.setLevel(LogLevel::kDebug);
  log.debug("now shown");
  EXPECT_NE(out.str().find("now shown"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch
