// SPDX-License-Identifier: Apache-2.0
// The results section (SPEC "Results") and a hook's with_result.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "config/config.h"
#include "config/sections.h"
#include "config_test_support.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;

std::string withResultHook(const std::string& results) {
  return "hooks:\n"
         "  definitions:\n"
         "    - name: archive\n"
         "      on: [completed]\n"
         "      command: [/bin/true]\n"
         "      with_result: true\n" +
         results;
}

TEST(ConfigResults, DefaultsAndValues) {
  Config defaults = valid("");
  EXPECT_EQ(defaults.results.dir, "/var/lib/jobwatchd/results");
  EXPECT_EQ(defaults.results.max_size, 64u << 20);
  EXPECT_EQ(defaults.results.give_up_after, 1h);

  TempDir tmp;
  Config c = valid(withResultHook("results:\n  dir: " + tmp.path().string() +
                                  "\n  max_size: 512KiB\n  give_up_after: 90s\n"));
  EXPECT_EQ(c.results.dir, tmp.path());
  EXPECT_EQ(c.results.max_size, 512u * 1024);
  EXPECT_EQ(c.results.give_up_after, 90s);
  ASSERT_EQ(c.hooks.definitions.size(), 1u);
  EXPECT_TRUE(c.hooks.definitions[0].with_result);
  EXPECT_FALSE(valid("hooks:\n  definitions:\n    - {name: a, on: [completed], command: [x]}\n")
                   .hooks.definitions[0]
                   .with_result);
}

TEST(ConfigResults, SizesTakeUnits) {
  EXPECT_EQ(parseByteSize("1000"), 1000u);
  EXPECT_EQ(parseByteSize("10B"), 10u);
  EXPECT_EQ(parseByteSize("2KB"), 2000u);
  EXPECT_EQ(parseByteSize("2KiB"), 2048u);
  EXPECT_EQ(parseByteSize("64MiB"), 64u << 20);
  EXPECT_EQ(parseByteSize("64 MiB"), 64u << 20);
  EXPECT_EQ(parseByteSize("1GB"), 1000000000u);
  EXPECT_EQ(parseByteSize("1GiB"), 1u << 30);
  for (const char* bad : {"", "MiB", "12 parsecs", "1.5MiB", "-1", "1mib", "9999999999999999"}) {
    EXPECT_FALSE(parseByteSize(bad).has_value()) << bad;
  }
}

TEST(ConfigResults, BadValuesNameFileLineAndKey) {
  expectOnlyIssue("results:\n  max_size: 12 parsecs\n", "results.max_size", 2, "invalid size");
  expectOnlyIssue("results:\n  max_size: 0\n", "results.max_size", 2, "positive");
  expectOnlyIssue("results:\n  give_up_after: soon\n", "results.give_up_after", 2, "");
  expectOnlyIssue("results:\n  dri: /x\n", "results.dri", 2, "dir");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - {name: a, on: [completed], command: [x], "
      "with_result: maybe}\n",
      "hooks.definitions[0].with_result", 3, "");
}

TEST(ConfigResults, WithResultHooksNeedAUsableResultsDir) {
  TempDir tmp;
  // Missing, but its parent exists: the daemon creates it at start.
  valid(withResultHook("results:\n  dir: " + (tmp.path() / "results").string() + "\n"));
  // Neither it nor its parent.
  expectOnlyIssue(withResultHook("results:\n  dir: " + (tmp.path() / "a" / "b").string() + "\n"),
                  "results.dir", 8, "does not exist");
  // A file, not a directory.
  std::ofstream(tmp.path() / "file") << "x";
  expectOnlyIssue(withResultHook("results:\n  dir: " + (tmp.path() / "file").string() + "\n"),
                  "results.dir", 8, "not a directory");
  // Without with_result hooks the directory is never used: no check.
  valid("results:\n  dir: " + (tmp.path() / "a" / "b").string() + "\n");
}

}  // namespace
}  // namespace jobwatch::config
