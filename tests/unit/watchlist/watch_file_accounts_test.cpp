// SPDX-License-Identifier: Apache-2.0
// Accounts in watch and drop files (SPEC "Accounts"): an entry's
// `account:`, a file's top-level `account:`, and the conflicts, each named
// with its line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "watchlist/watch_file.h"

namespace jobwatch::watchlist {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kSource = "/etc/jobwatchd/jobs.yaml";

std::string allIssues(const WatchParse& p) {
  std::string out;
  for (const auto& i : p.issues) out += i.toString() + "\n";
  return out;
}

// "id@account:line" per entry, for compact expectations.
std::vector<std::string> shown(const WatchParse& p) {
  std::vector<std::string> out;
  for (const auto& e : p.entries)
    out.push_back(e.id + "@" + e.account + ":" + std::to_string(e.line));
  return out;
}

TEST(WatchAccounts, EntriesNameTheirAccountAndLine) {
  WatchParse p = parseWatchYaml(R"(jobs:
  - job-1
  - id: job-2
    account: team-b
  - id: job-3
    labels: {a: b}
    account: default
)",
                                kSource);
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(shown(p), (std::vector<std::string>{"job-1@:2", "job-2@team-b:3", "job-3@default:5"}));
}

TEST(WatchAccounts, TopLevelAccountAppliesToEntriesWithoutTheirOwn) {
  // `account:` may come after `jobs:` too.
  WatchParse p = parseWatchYaml(R"(jobs:
  - job-1
  - id: job-2
    account: team-b
  - id: job-3
account: team-b
)",
                                kSource);
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(shown(p),
            (std::vector<std::string>{"job-1@team-b:2", "job-2@team-b:3", "job-3@team-b:5"}));
}

TEST(WatchAccounts, AnEntryNamingAnotherAccountThanTheFileIsRejected) {
  WatchParse p = parseWatchYaml(R"(account: team-b
jobs:
  - job-1
  - id: job-2
    account: team-c
  - id: job-3
    account: default
)",
                                kSource);
  EXPECT_EQ(shown(p), (std::vector<std::string>{"job-1@team-b:3"}));
  ASSERT_EQ(p.issues.size(), 2u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 5);
  EXPECT_THAT(p.issues[0].message, HasSubstr("names account \"team-c\""));
  EXPECT_THAT(p.issues[0].message, HasSubstr("`account:` (line 1) is \"team-b\""));
  EXPECT_EQ(p.issues[1].line, 7);
}

TEST(WatchAccounts, BadAccountNamesAreIssuesWithTheirLine) {
  WatchParse p = parseWatchYaml(R"(jobs:
  - id: job-1
    account: Team-B
  - id: job-2
    account: [a]
  - id: job-3
    account: ""
  - job-4
)",
                                kSource);
  EXPECT_EQ(shown(p), (std::vector<std::string>{"job-4@:8"}));
  ASSERT_EQ(p.issues.size(), 3u) << allIssues(p);
  EXPECT_EQ(p.issues[0].toString(),
            "/etc/jobwatchd/jobs.yaml:3: invalid account name \"Team-B\" (lowercase letters, "
            "digits, _ and -, 1 to 32 characters)");
  EXPECT_EQ(p.issues[1].line, 5);
  EXPECT_THAT(p.issues[1].message, HasSubstr("must be an account name"));
  EXPECT_EQ(p.issues[2].line, 7);
}

TEST(WatchAccounts, ABadTopLevelAccountTakesNoJobOfTheFile) {
  WatchParse p = parseWatchYaml("jobs: [job-1, job-2]\naccount: \"team b\"\n", kSource);
  EXPECT_TRUE(p.entries.empty());
  ASSERT_EQ(p.issues.size(), 1u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 2);
  EXPECT_THAT(p.issues[0].message, HasSubstr("no job of this file is taken"));

  WatchParse twice = parseWatchYaml("account: a\naccount: b\njobs: [job-1]\n", kSource);
  ASSERT_EQ(twice.issues.size(), 1u) << allIssues(twice);
  EXPECT_EQ(twice.issues[0].line, 2);
  EXPECT_THAT(twice.issues[0].message, HasSubstr("duplicate key `account`"));
  EXPECT_EQ(shown(twice), (std::vector<std::string>{"job-1@a:3"}));
}

TEST(WatchAccounts, OneIdUnderTwoAccountsNamesBothLines) {
  WatchParse p = parseWatchYaml(R"(jobs:
  - id: job-1
    account: team-b
  - job-2
  - id: job-1
    account: team-c
  - id: job-1
    account: team-b
    labels: {x: y}
  - id: job-2
    account: default
)",
                                kSource);
  // The first binding stays; same-account duplicates still merge ("" and
  // "default" are one account).
  EXPECT_EQ(shown(p), (std::vector<std::string>{"job-1@team-b:2", "job-2@:4"}));
  EXPECT_EQ(p.entries[0].labels.at("x"), "y");
  ASSERT_EQ(p.issues.size(), 1u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 5);
  EXPECT_THAT(p.issues[0].message,
              HasSubstr("is listed on line 2 under account `team-b` and here under account "
                        "`team-c`"));
}

TEST(WatchAccounts, PlainTextEntriesHaveNoAccountButALine) {
  WatchParse p = parseWatchText("# jobs\njob-1\n\njob-2\njob-1\n", "/tmp/jobs.txt");
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(shown(p), (std::vector<std::string>{"job-1@:2", "job-2@:4"}));
}

TEST(WatchAccounts, UnknownEntryKeysMentionAccount) {
  WatchParse p = parseWatchYaml("jobs:\n  - id: job-1\n    acount: b\n", kSource);
  ASSERT_EQ(p.issues.size(), 1u);
  EXPECT_THAT(p.issues[0].message, HasSubstr("`account`"));
  WatchParse top = parseWatchYaml("acount: b\njobs: [job-1]\n", kSource);
  ASSERT_EQ(top.issues.size(), 1u);
  EXPECT_THAT(top.issues[0].message, HasSubstr("`account`"));
}

}  // namespace
}  // namespace jobwatch::watchlist
