// SPDX-License-Identifier: Apache-2.0
// WatchFileMonitor against real files and directories; waits are poll() on
// its descriptor with bounded timeouts.
#include "watchlist/watch_file_monitor.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>

#include "util/clock.h"
#include "watchlist_test_support.h"

namespace jobwatch::watchlist {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace jobwatch::watchlist::test_support;  // NOLINT(google-build-using-namespace)

// --- WatchFileMonitor ------------------------------------------------------------

// changed() after the monitor's descriptor became readable (or 2 s).
bool changedAfterEvents(WatchFileMonitor& m) {
  waitReadable(m.fd(), 2000ms);
  return m.changed();
}

TEST(WatchFileMonitorTest, SeesEditsReplacementsAndRemovalOfItsFileOnly) {
  TempDir tmp;
  const fs::path file = tmp.path() / "jobs.yaml";
  writeFile(file, "jobs: [a]\n");
  auto opened = WatchFileMonitor::open(file);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& m = *opened.value();
  EXPECT_FALSE(m.changed());

  writeFile(tmp.path() / "other.yaml", "unrelated");
  EXPECT_FALSE(changedAfterEvents(m)) << "an unrelated file in the same directory";

  // Editor-style save: write a temp file, rename it over.
  writeFile(tmp.path() / ".jobs.yaml.swp", "jobs: [a, b]\n");
  fs::rename(tmp.path() / ".jobs.yaml.swp", file);
  EXPECT_TRUE(changedAfterEvents(m));
  EXPECT_FALSE(m.changed()) << "drained";

  writeFile(file, "jobs: [c]\n");  // in place
  EXPECT_TRUE(changedAfterEvents(m));

  fs::remove(file);
  EXPECT_TRUE(changedAfterEvents(m));

  writeFile(file, "jobs: [d]\n");  // back
  EXPECT_TRUE(changedAfterEvents(m));

  // Reading it is not a change.
  EXPECT_EQ(readFile(file), "jobs: [d]\n");
  EXPECT_FALSE(m.changed());
}

TEST(WatchFileMonitorTest, QueueOverflowCountsAsChange) {
  TempDir tmp;
  const fs::path file = tmp.path() / "jobs.yaml";
  auto opened = WatchFileMonitor::open(file);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& m = *opened.value();
  long max_queued = 16384;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> max_queued;
  if (max_queued > 100000) GTEST_SKIP() << "inotify queue too large to overflow quickly";
  // Each file: IN_CREATE and IN_CLOSE_WRITE; none concerns jobs.yaml.
  for (long i = 0; i < max_queued / 2 + 100; ++i) {
    const int fd = ::open((tmp.path() / ("x" + std::to_string(i))).c_str(),
                          O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ::close(fd);
  }
  EXPECT_TRUE(m.changed());
  EXPECT_FALSE(m.changed());
}

TEST(WatchFileMonitorTest, DirectoryRemovedCountsAsChange) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "etc";
  fs::create_directory(dir);
  const fs::path file = dir / "jobs.yaml";
  writeFile(file, "jobs: [a]\n");
  auto opened = WatchFileMonitor::open(file);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& m = *opened.value();
  fs::remove_all(dir);
  EXPECT_TRUE(changedAfterEvents(m));
}

TEST(WatchFileMonitorTest, VanishedDirectoryIsWatchedAgainOnTheInjectedClock) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "etc";
  fs::create_directory(dir);
  const fs::path file = dir / "jobs.yaml";
  ManualClock clock;
  auto opened = WatchFileMonitor::open(file, clock);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& m = *opened.value();
  fs::remove_all(dir);
  EXPECT_TRUE(changedAfterEvents(m));
  fs::create_directory(dir);
  clock.advance(999ms);
  EXPECT_FALSE(m.changed()) << "watched again before the retry interval";
  clock.advance(1ms);
  EXPECT_TRUE(m.changed()) << "its return counts as a change";
  writeFile(file, "jobs: [a]\n");
  EXPECT_TRUE(changedAfterEvents(m)) << "watched again";
}

TEST(WatchFileMonitorTest, MissingDirectoryIsAnErrorNamingIt) {
  TempDir tmp;
  const fs::path file = tmp.path() / "nope" / "jobs.yaml";
  auto opened = WatchFileMonitor::open(file);
  ASSERT_FALSE(opened.ok());
  EXPECT_THAT(opened.error().message, HasSubstr((tmp.path() / "nope").string()));
}

}  // namespace
}  // namespace jobwatch::watchlist
