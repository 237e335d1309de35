// SPDX-License-Identifier: Apache-2.0
#include "watchlist/watch_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>

#include "support/temp_dir.h"
#include "util/job_id.h"

namespace jobwatch::watchlist {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

using Labels = std::map<std::string, std::string>;

const fs::path kSource = "/etc/jobwatchd/jobs.yaml";

std::vector<std::string> ids(const WatchParse& p) {
  std::vector<std::string> out;
  for (const auto& e : p.entries) out.push_back(e.id);
  return out;
}

std::string allIssues(const WatchParse& p) {
  std::string out;
  for (const auto& i : p.issues) out += i.toString() + "\n";
  return out;
}

using jobwatch::testing_support::TempDir;

// --- YAML -----------------------------------------------------------------------

TEST(WatchYaml, BothEntryFormsAndLabels) {
  WatchParse p = parseWatchYaml(R"(jobs:
  - b2094b38-e432-44b6-a5d0-67bed07d5de1
  - id: 7d1f0c2a-5b7e-4a51-9d0e-2b0f5d3c9e11
    labels: {customer: acme, batch: "2026-11"}
  - id: plain_ID-2
)",
                                kSource);
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  ASSERT_EQ(p.entries.size(), 3u);
  EXPECT_EQ(p.entries[0].id, "b2094b38-e432-44b6-a5d0-67bed07d5de1");
  EXPECT_TRUE(p.entries[0].labels.empty());
  EXPECT_EQ(p.entries[1].id, "7d1f0c2a-5b7e-4a51-9d0e-2b0f5d3c9e11");
  EXPECT_EQ(p.entries[1].labels, (Labels{{"customer", "acme"}, {"batch", "2026-11"}}));
  EXPECT_EQ(p.entries[2].id, "plain_ID-2");
}

TEST(WatchYaml, EmptyInputsHaveNoEntriesAndNoIssues) {
  for (const char* text : {"", "# just a comment\n", "---\n", "jobs:\n", "jobs: []\n"}) {
    SCOPED_TRACE(text);
    WatchParse p = parseWatchYaml(text, kSource);
    EXPECT_TRUE(p.entries.empty());
    EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  }
}

TEST(WatchYaml, DuplicatesAreMergedInFirstSeenOrder) {
  WatchParse p = parseWatchYaml(R"(jobs:
  - aaa
  - id: bbb
    labels: {team: red, tier: 1}
  - aaa
  - id: bbb
    labels: {team: blue, owner: ann}
  - ccc
)",
                                kSource);
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(ids(p), (std::vector<std::string>{"aaa", "bbb", "ccc"}));
  EXPECT_EQ(p.entries[1].labels, (Labels{{"team", "blue"}, {"tier", "1"}, {"owner", "ann"}}));
}

TEST(WatchYaml, InvalidIdsAreSkippedWithTheirLines) {
  const std::string long_id(129, 'a');
  WatchParse p = parseWatchYaml(
      "jobs:\n"
      "  - good-1\n"
      "  - ../x\n"
      "  - \"a b\"\n"
      "  - " +
          long_id +
          "\n"
          "  - id: \"x/y\"\n"
          "  - good-2\n"
          "  - \"\"\n",
      kSource);
  EXPECT_EQ(ids(p), (std::vector<std::string>{"good-1", "good-2"}));
  ASSERT_EQ(p.issues.size(), 5u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 3);
  EXPECT_EQ(p.issues[0].message, describeInvalidJobId("../x"));
  EXPECT_EQ(p.issues[0].file, kSource);
  EXPECT_EQ(p.issues[1].line, 4);
  EXPECT_EQ(p.issues[1].message, describeInvalidJobId("a b"));
  EXPECT_EQ(p.issues[2].line, 5);
  EXPECT_THAT(p.issues[2].message, HasSubstr("longer than 128"));
  EXPECT_EQ(p.issues[3].line, 6);
  EXPECT_EQ(p.issues[4].line, 8);
  EXPECT_THAT(p.issues[4].message, HasSubstr("empty"));
  EXPECT_EQ(p.issues[0].toString(), "/etc/jobwatchd/jobs.yaml:3: " + describeInvalidJobId("../x"));
}

TEST(WatchYaml, LongestValidIdIsAccepted) {
  const std::string id(128, 'z');
  WatchParse p = parseWatchYaml("jobs: [" + id + "]\n", kSource);
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(ids(p), std::vector<std::string>{id});
}

TEST(WatchYaml, BadLabelsAreReportedAndDroppedButTheJobIsKept) {
  const std::string long_key(65, 'k');
  const std::string long_value(1025, 'v');
  WatchParse p = parseWatchYaml(
      "jobs:\n"
      "  - id: job-1\n"
      "    labels:\n"
      "      good_key: fine\n"
      "      1st: x\n"
      "      with-dash: x\n"
      "      " +
          long_key +
          ": x\n"
          "      big: " +
          long_value +
          "\n"
          "      nested: {a: b}\n"
          "      ctrl: \"a\\nb\"\n"
          "      _ok: \"\"\n",
      kSource);
  EXPECT_EQ(ids(p), std::vector<std::string>{"job-1"});
  EXPECT_EQ(p.entries[0].labels, (Labels{{"good_key", "fine"}, {"_ok", ""}}));
  ASSERT_EQ(p.issues.size(), 6u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 5);
  EXPECT_THAT(p.issues[0].message, HasSubstr("invalid label name \"1st\""));
  EXPECT_EQ(p.issues[1].line, 6);
  EXPECT_THAT(p.issues[1].message, HasSubstr("invalid label name \"with-dash\""));
  EXPECT_EQ(p.issues[2].line, 7);
  EXPECT_EQ(p.issues[3].line, 8);
  EXPECT_THAT(p.issues[3].message, HasSubstr("1024"));
  EXPECT_EQ(p.issues[4].line, 9);
  EXPECT_THAT(p.issues[4].message, HasSubstr("single value"));
  EXPECT_EQ(p.issues[5].line, 10);
  EXPECT_THAT(p.issues[5].message, HasSubstr("control characters"));
}

TEST(WatchYaml, LabelNamesThatClashAsEnvironmentVariablesAreRefused) {
  WatchParse p = parseWatchYaml(
      "jobs:\n"
      "  - id: job-1\n"
      "    labels:\n"
      "      team: a\n"
      "      TEAM: b\n"
      "      team: c\n",
      kSource);
  EXPECT_EQ(ids(p), std::vector<std::string>{"job-1"});
  EXPECT_EQ(p.entries[0].labels, (Labels{{"team", "a"}}));
  ASSERT_EQ(p.issues.size(), 2u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 5);
  EXPECT_THAT(p.issues[0].message, HasSubstr("JOBWATCH_LABEL_TEAM"));
  EXPECT_EQ(p.issues[1].line, 6);
  EXPECT_THAT(p.issues[1].message, HasSubstr("duplicate label"));
}

// Issue 18: the clash check compared each label with every earlier one, so
// a drop file with 60,000 labels stalled the daemon's loop for minutes
// (SIGTERM waited 37-45 s). The parse must stay linear; the bound below is
// far above what a linear parse needs (about 2 s unoptimised) and far below
// what the quadratic one took (over 15 minutes unoptimised).
TEST(WatchYaml, SixtyThousandLabelsParseInLinearTime) {
  constexpr int kLabels = 60'000;
  std::string text = "jobs:\n  - id: job-1\n    labels:\n";
  for (int i = 0; i < kLabels; ++i) text += "      k" + std::to_string(i) + ": v\n";
  text += "      K7: clash\n";  // the last line: JOBWATCH_LABEL_K7 again
  const int clash_line = 3 + kLabels + 1;
  auto parsing = std::async(std::launch::async, [&] { return parseWatchYaml(text, kSource); });
  if (parsing.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "parsing 60,000 labels takes over a minute: quadratic again?\n");
    std::abort();
  }
  WatchParse p = parsing.get();
  ASSERT_FALSE(p.issues.empty());
  const WatchIssue& clash = p.issues.front();
  EXPECT_EQ(clash.line, clash_line) << allIssues(p);
  EXPECT_THAT(clash.message, HasSubstr("\"K7\" clashes with \"k7\""));
  EXPECT_THAT(clash.message, HasSubstr("JOBWATCH_LABEL_K7"));
  // Every label was checked, then the entry was refused for having too many.
  ASSERT_EQ(p.issues.size(), 2u) << allIssues(p);
  EXPECT_EQ(p.issues[1].line, 2);
  EXPECT_THAT(p.issues[1].message, HasSubstr("60000 labels, more than the 64"));
  EXPECT_TRUE(p.entries.empty());
}

// Issue 18 #4: 2,500 labels of 1 KB were accepted, and then every hook run
// of the job failed with E2BIG. Caps per job: 64 labels, 16 KiB together.
std::string entryWithLabels(const std::string& id, int count, std::size_t value_bytes,
                            int first = 0) {
  std::string text = "  - id: " + id + "\n    labels:\n";
  for (int i = first; i < first + count; ++i) {
    text += "      k" + std::to_string(i) + ": " + std::string(value_bytes, 'v') + "\n";
  }
  return text;
}

TEST(WatchYaml, EntriesOverTheLabelCapsAreRejectedWithTheirLine) {
  const std::string text = "jobs:\n" + entryWithLabels("too-many", 65, 1) +  // line 2
                           entryWithLabels("too-big", 17, 1000) +            // line 69
                           entryWithLabels("abuse", 2500, 1024) +            // line 88
                           "  - fine\n";
  WatchParse p = parseWatchYaml(text, kSource);
  EXPECT_EQ(ids(p), std::vector<std::string>{"fine"});
  ASSERT_EQ(p.issues.size(), 3u) << allIssues(p);
  EXPECT_EQ(p.issues[0].toString(),
            "/etc/jobwatchd/jobs.yaml:2: job entry rejected: it has 65 labels, more than the 64 "
            "a job may have");
  EXPECT_EQ(p.issues[1].line, 69);
  EXPECT_THAT(p.issues[1].message,
              HasSubstr("labels of 17041 bytes (names and values), more than the 16384"));
  // 17041: names k0..k16 (10 * 2 + 7 * 3 bytes) and 17 values of 1000.
  EXPECT_EQ(p.issues[2].line, 88);
  EXPECT_THAT(p.issues[2].message, HasSubstr("2500 labels"));
}

TEST(WatchYaml, LabelsExactlyAtTheCapsAreAccepted) {
  // 64 labels; names k0..k63 (2 or 3 bytes), values filling 16 KiB exactly.
  std::size_t names = 0;
  for (int i = 0; i < 64; ++i) names += 1 + std::to_string(i).size();
  const std::size_t value = (16 * 1024 - names) / 64;
  std::string text = "jobs:\n" + entryWithLabels("job-1", 63, value);
  text += "      k63: " + std::string(16 * 1024 - names - 63 * value, 'v') + "\n";
  WatchParse p = parseWatchYaml(text, kSource);
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_EQ(p.entries[0].labels.size(), 64u);
}

TEST(WatchYaml, CapsHoldAfterDuplicateEntriesAreMerged) {
  const std::string text = "jobs:\n" + entryWithLabels("job-1", 40, 1) +  // line 2
                           entryWithLabels("job-1", 40, 1, 40) +          // line 44
                           entryWithLabels("job-1", 10, 1, 30) +          // line 86
                           "  - job-1\n";
  WatchParse p = parseWatchYaml(text, kSource);
  ASSERT_EQ(p.issues.size(), 1u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 44);
  EXPECT_THAT(p.issues[0].message, HasSubstr("merged with the earlier entry of \"job-1\""));
  EXPECT_THAT(p.issues[0].message, HasSubstr("80 labels"));
  ASSERT_EQ(ids(p), std::vector<std::string>{"job-1"});
  EXPECT_EQ(p.entries[0].labels.size(), 40u);  // the first entry, and the third merged in
}

TEST(WatchYaml, EntryShapeProblemsNameTheLine) {
  WatchParse p = parseWatchYaml(R"(jobs:
  - id: job-1
    lables: {a: b}
  - labels: {a: b}
  - [a, b]
  - id: [x]
  - id: job-2
    labels: [a]
  -
)",
                                kSource);
  EXPECT_EQ(ids(p), (std::vector<std::string>{"job-1", "job-2"}));
  ASSERT_EQ(p.issues.size(), 6u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 3);
  EXPECT_THAT(p.issues[0].message, HasSubstr("unknown key \"lables\""));
  EXPECT_EQ(p.issues[1].line, 4);
  EXPECT_THAT(p.issues[1].message, HasSubstr("no `id`"));
  EXPECT_EQ(p.issues[2].line, 5);
  EXPECT_EQ(p.issues[3].line, 6);
  EXPECT_THAT(p.issues[3].message, HasSubstr("`id` must be a job ID"));
  EXPECT_EQ(p.issues[4].line, 8);
  EXPECT_THAT(p.issues[4].message, HasSubstr("`labels` must be a map"));
  EXPECT_THAT(p.issues[5].message, HasSubstr("each job must be an ID"));
}

TEST(WatchYaml, TopLevelShape) {
  WatchParse list = parseWatchYaml("- a\n- b\n", kSource);
  EXPECT_TRUE(list.entries.empty());
  ASSERT_EQ(list.issues.size(), 1u);
  EXPECT_THAT(list.issues[0].message, HasSubstr("top level must be a map"));

  WatchParse extra = parseWatchYaml("jobs: [a]\njob: [b]\n", kSource);
  EXPECT_EQ(ids(extra), std::vector<std::string>{"a"});
  ASSERT_EQ(extra.issues.size(), 1u);
  EXPECT_EQ(extra.issues[0].line, 2);
  EXPECT_THAT(extra.issues[0].message, HasSubstr("unknown key \"job\""));

  WatchParse not_list = parseWatchYaml("jobs:\n  a: b\n", kSource);
  ASSERT_EQ(not_list.issues.size(), 1u);
  EXPECT_EQ(not_list.issues[0].line, 2);
  EXPECT_THAT(not_list.issues[0].message, HasSubstr("must be a list"));
}

TEST(WatchYaml, SyntaxErrorIsOneIssueWithTheParsersLine) {
  WatchParse p = parseWatchYaml("jobs:\n  - a\n  - [b\n", kSource);
  EXPECT_TRUE(p.entries.empty());
  ASSERT_EQ(p.issues.size(), 1u);
  EXPECT_GE(p.issues[0].line, 3);
  EXPECT_THAT(p.issues[0].message, HasSubstr("invalid YAML"));

  WatchParse indent = parseWatchYaml("jobs:\n  - a\n   b: c\n", kSource);
  ASSERT_EQ(indent.issues.size(), 1u);
  EXPECT_EQ(indent.issues[0].line, 3);
}

// A second document, or YAML the parser cannot read past, is one issue.
TEST(WatchYaml, SecondDocumentIsAnIssueOnItsLine) {
  WatchParse p = parseWatchYaml("jobs: [a]\n---\njobs: [b]\n", kSource);
  EXPECT_TRUE(p.entries.empty());
  ASSERT_EQ(p.issues.size(), 1u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 3);
  EXPECT_THAT(p.issues[0].message, HasSubstr("second YAML document"));
  EXPECT_EQ(ids(parseWatchYaml("---\njobs: [a]\n...\n", kSource)), std::vector<std::string>{"a"});
}

// Regression, found by tests/fuzz/watchlist_fuzzer.cpp (input in
// tests/fuzz/regressions/watchlist/): yaml-cpp 0.7's YAML::LoadAll never
// returned on this drop file, allocating until memory ran out.
TEST(WatchYaml, YamlThatHangsYamlCppLoadAllIsAnIssue) {
  auto parsing = std::async(std::launch::async, [] {
    return parseWatchYaml("# comme# commen{\n!, bjo\nnt\n! \njo=b-3 #", kSource);
  });
  if (parsing.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    std::fprintf(stderr, "parseWatchYaml hangs: aborting before memory runs out\n");
    std::abort();
  }
  WatchParse p = parsing.get();
  EXPECT_TRUE(p.entries.empty());
  EXPECT_EQ(p.issues.size(), 1u) << allIssues(p);
}

// --- text -------------------------------------------------------------------------

TEST(WatchText, CommentsBlanksWhitespaceAndCrlf) {
  WatchParse p = parseWatchText(
      "# header comment\r\n"
      "\r\n"
      "  job-1  \r\n"
      "job-2 # trailing comment\r\n"
      "\tjob-3\n"
      "   # indented comment\n"
      "job-1\n"
      "job-4",  // no final newline
      "/x/drop/a.txt");
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(ids(p), (std::vector<std::string>{"job-1", "job-2", "job-3", "job-4"}));
  for (const auto& e : p.entries) EXPECT_TRUE(e.labels.empty());
}

TEST(WatchText, InvalidLinesAreReportedWithTheirNumbers) {
  const std::string long_id(129, 'b');
  WatchParse p = parseWatchText("ok-1\n../x\na b\n" + long_id + "\nok-2\r\n", "/x/a.txt");
  EXPECT_EQ(ids(p), (std::vector<std::string>{"ok-1", "ok-2"}));
  ASSERT_EQ(p.issues.size(), 3u) << allIssues(p);
  EXPECT_EQ(p.issues[0].line, 2);
  EXPECT_EQ(p.issues[0].message, describeInvalidJobId("../x"));
  EXPECT_EQ(p.issues[1].line, 3);
  EXPECT_EQ(p.issues[1].message, describeInvalidJobId("a b"));
  EXPECT_EQ(p.issues[2].line, 4);
  EXPECT_EQ(p.issues[2].toString(), "/x/a.txt:4: " + describeInvalidJobId(long_id));
}

TEST(WatchText, ByteOrderMarkIsIgnored) {
  WatchParse p = parseWatchText("\xEF\xBB\xBFjob-1\n", "/x/a.txt");
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  EXPECT_EQ(ids(p), std::vector<std::string>{"job-1"});
}

// --- files ------------------------------------------------------------------------

TEST(WatchFile, PicksTheFormatByExtension) {
  TempDir dir;
  WatchParse text = loadWatchFile(dir.write("add.txt", "job-1\njob-2\n"));
  EXPECT_TRUE(text.issues.empty()) << allIssues(text);
  EXPECT_EQ(ids(text), (std::vector<std::string>{"job-1", "job-2"}));

  WatchParse upper = loadWatchFile(dir.write("ADD.TXT", "job-3\n"));
  EXPECT_EQ(ids(upper), std::vector<std::string>{"job-3"});

  WatchParse yaml = loadWatchFile(dir.write("add.yaml", "jobs: [job-4]\n"));
  EXPECT_TRUE(yaml.issues.empty()) << allIssues(yaml);
  EXPECT_EQ(ids(yaml), std::vector<std::string>{"job-4"});

  // Anything not *.txt is YAML, so a plain list without `jobs:` is refused.
  WatchParse other = loadWatchFile(dir.write("add.list", "job-5\n"));
  EXPECT_TRUE(other.entries.empty());
  EXPECT_EQ(other.issues.size(), 1u);
}

TEST(WatchFile, IssuesNameTheFile) {
  TempDir dir;
  fs::path file = dir.write("jobs.yaml", "jobs:\n  - ok\n  - ../etc\n");
  WatchParse p = loadWatchFile(file);
  ASSERT_EQ(p.issues.size(), 1u);
  EXPECT_EQ(p.issues[0].toString(), file.string() + ":3: " + describeInvalidJobId("../etc"));
}

TEST(WatchFile, MissingFileIsOneIssue) {
  TempDir dir;
  fs::path missing = dir.path() / "missing.yaml";
  WatchParse p = loadWatchFile(missing);
  ASSERT_EQ(p.issues.size(), 1u);
  EXPECT_EQ(p.issues[0].line, 0);
  EXPECT_EQ(p.issues[0].file, missing);
  EXPECT_THAT(p.issues[0].toString(), HasSubstr(missing.string() + ": cannot open"));
}

TEST(WatchFile, NonRegularFilesAreRefused) {
  TempDir dir;
  WatchParse directory = loadWatchFile(dir.path());
  ASSERT_EQ(directory.issues.size(), 1u);
  EXPECT_THAT(directory.issues[0].message, HasSubstr("not a regular file"));

  // A FIFO must be refused without blocking on open.
  fs::path fifo = dir.path() / "pipe.txt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  WatchParse pipe = loadWatchFile(fifo);
  ASSERT_EQ(pipe.issues.size(), 1u);
  EXPECT_EQ(pipe.issues[0].line, 0);
  EXPECT_THAT(pipe.issues[0].message, HasSubstr("not a regular file"));
}

TEST(WatchFile, OversizeFileIsRefused) {
  TempDir dir;
  fs::path big = dir.write("big.txt", "job-1\n");
  fs::resize_file(big, 16 * 1024 * 1024 + 1);  // sparse: cheap to create
  WatchParse p = loadWatchFile(big);
  EXPECT_TRUE(p.entries.empty());
  ASSERT_EQ(p.issues.size(), 1u);
  EXPECT_EQ(p.issues[0].line, 0);
  EXPECT_THAT(p.issues[0].message, HasSubstr("too large"));
}

TEST(WatchFile, ShippedExampleParses) {
  WatchParse p = loadWatchFile(fs::path(JOBWATCH_SOURCE_DIR) / "etc" / "jobs.yaml");
  EXPECT_TRUE(p.issues.empty()) << allIssues(p);
  ASSERT_EQ(p.entries.size(), 3u);
  EXPECT_EQ(p.entries[0].id, "b2094b38-e432-44b6-a5d0-67bed07d5de1");
  EXPECT_TRUE(p.entries[0].labels.empty());
  EXPECT_EQ(p.entries[1].labels, (Labels{{"customer", "acme"}, {"batch", "2026-11"}}));
  EXPECT_EQ(p.entries[2].labels.size(), 2u);
}

TEST(WatchIssueFormat, OmitsUnknownLine) {
  EXPECT_EQ((WatchIssue{"/d/a.yaml", 4, "bad"}).toString(), "/d/a.yaml:4: bad");
  EXPECT_EQ((WatchIssue{"/d/a.yaml", 0, "bad"}).toString(), "/d/a.yaml: bad");
}

}  // namespace
}  // namespace jobwatch::watchlist
