// SPDX-License-Identifier: Apache-2.0
// writeDropFile (`jobwatchd add`) against real temp directories.
#include "watchlist/drop_file_writer.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "watchlist_test_support.h"

namespace jobwatch::watchlist {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace jobwatch::watchlist::test_support;  // NOLINT(google-build-using-namespace)

TEST(WriteDropFile, RoundTripsAwkwardValuesExactly) {
  TempDir tmp;
  const auto entries = awkwardEntries();
  const mode_t old_umask = ::umask(077);
  auto written = writeDropFile(tmp.path(), entries);
  ::umask(old_umask);
  ASSERT_TRUE(written.ok()) << written.error().message;
  const fs::path path = written.value();
  EXPECT_EQ(path.parent_path(), tmp.path());
  const std::regex pattern("add-[0-9]{8}T[0-9]{6}\\.[0-9]{3}Z-" + std::to_string(::getpid()) +
                           "-[0-9a-f]{16}\\.yaml");
  EXPECT_TRUE(std::regex_match(path.filename().string(), pattern)) << path;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_THAT(topLevel(tmp.path()), ElementsAre(path.filename().string()));  // no temp left

  const std::string text = readFile(path);
  WatchParse back = parseWatchYaml(text, path);
  ASSERT_THAT(back.issues, IsEmpty()) << text;
  ASSERT_EQ(back.entries.size(), entries.size()) << text;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(back.entries[i].id, entries[i].id) << text;
    EXPECT_EQ(back.entries[i].labels, entries[i].labels) << text;
  }
}

TEST(WriteDropFile, RootGivesTheFileToTheDirectorysOwner) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root (jobwatchd add by root, service as another user)";
  TempDir tmp;
  const uid_t service_uid = 64123;  // like a systemd DynamicUser= ID
  const gid_t service_gid = 64124;
  ASSERT_EQ(::chown(tmp.path().c_str(), service_uid, service_gid), 0);
  auto written = writeDropFile(tmp.path(), {{"job-1", {}}});
  ASSERT_TRUE(written.ok()) << written.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(written.value().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, service_uid);
  EXPECT_EQ(st.st_gid, service_gid);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(WriteDropFile, ErrorsNameTheDirectory) {
  TempDir tmp;
  const fs::path missing = tmp.path() / "missing";
  auto r = writeDropFile(missing, {{"job-1", {}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr(missing.string()));
  EXPECT_THAT(r.error().message, HasSubstr("No such file or directory"));

  auto none = writeDropFile(tmp.path(), {});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message, HasSubstr("no jobs"));

  auto bad = writeDropFile(tmp.path(), {{"bad id", {}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("invalid job ID"));
  auto bad_label = writeDropFile(tmp.path(), {{"job-1", {{"ok", "line\nbreak"}}}});
  ASSERT_FALSE(bad_label.ok());
  EXPECT_THAT(bad_label.error().message, HasSubstr("control characters"));
  EXPECT_THAT(topLevel(tmp.path()), IsEmpty());
}

WatchEntry entry(const std::string& id, const std::string& account) {
  WatchEntry e;
  e.id = id;
  e.account = account;
  return e;
}

TEST(WriteDropFile, OneAccountForAllIsTheFilesAccount) {
  TempDir tmp;
  auto written = writeDropFile(tmp.path(), {entry("job-1", "team-b"), entry("job-2", "team-b")});
  ASSERT_TRUE(written.ok()) << written.error().message;
  const std::string text = readFile(written.value());
  EXPECT_THAT(text, HasSubstr("account: \"team-b\"\njobs:"));
  WatchParse back = parseWatchYaml(text, written.value());
  ASSERT_THAT(back.issues, IsEmpty()) << text;
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0].account, "team-b");
  EXPECT_EQ(back.entries[1].account, "team-b");
}

TEST(WriteDropFile, MixedAccountsArePerEntryAndConflictsAreRefused) {
  TempDir tmp;
  auto written = writeDropFile(tmp.path(), {entry("job-1", "team-b"), entry("job-2", "")});
  ASSERT_TRUE(written.ok()) << written.error().message;
  const std::string text = readFile(written.value());
  EXPECT_THAT(text, Not(HasSubstr("\naccount:")));
  WatchParse back = parseWatchYaml(text, written.value());
  ASSERT_THAT(back.issues, IsEmpty()) << text;
  ASSERT_EQ(back.entries.size(), 2u);
  EXPECT_EQ(back.entries[0].account, "team-b");
  EXPECT_EQ(back.entries[1].account, "");

  TempDir other;
  auto conflict = writeDropFile(other.path(), {entry("job-1", "team-b"), entry("job-1", "c")});
  ASSERT_FALSE(conflict.ok());
  EXPECT_THAT(conflict.error().message, HasSubstr("a job belongs to one account"));
  EXPECT_THAT(topLevel(other.path()), IsEmpty());
}

}  // namespace
}  // namespace jobwatch::watchlist
