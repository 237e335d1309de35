// SPDX-License-Identifier: Apache-2.0
// DropDirWatcher (and writeDropFile feeding it) against real files,
// real directories and real writer processes in temp directories. Waits are
// poll() on the watcher's descriptor with bounded timeouts; the only sleeps
// are inside the slow writer child.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "util/clock.h"
#include "watchlist/drop_dir_watcher.h"
#include "watchlist/drop_file_writer.h"
#include "watchlist_test_support.h"

namespace jobwatch::watchlist {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Labels = std::map<std::string, std::string>;
using namespace jobwatch::watchlist::test_support;  // NOLINT(google-build-using-namespace)

std::vector<std::string> names(const std::vector<DropFileTaken>& taken) {
  std::vector<std::string> out;
  for (const auto& t : taken) out.push_back(t.file.filename().string());
  return out;
}

// takeReady(), then finish() for every accepted file, as the daemon does
// once the file's jobs are recorded.
std::vector<DropFileTaken> takeAndFinish(DropDirWatcher& w) {
  std::vector<DropFileTaken> got = w.takeReady();
  for (auto& t : got) {
    if (t.rejected) continue;
    auto moved = w.finish(t);
    EXPECT_TRUE(moved.ok()) << moved.error().message;
    if (moved.ok()) t.moved_to = moved.value();
  }
  return got;
}

// Drives a watcher the way the daemon does: poll() on fd() with the
// watcher's own nextCheckIn() as the timeout, then takeReady() and finish().
class Driver {
 public:
  explicit Driver(DropDirWatcher& w) : w_(w) {}

  // One takeReady() after waiting at most `wait` for something to do.
  std::vector<DropFileTaken> step(std::chrono::milliseconds wait) {
    if (!w_.morePending()) {
      auto next = w_.nextCheckIn();
      waitReadable(w_.fd(), next ? std::min(wait, *next) : wait);
    }
    auto got = takeAndFinish(w_);
    ++calls_;
    EXPECT_LE(got.size(), kMaxDropFilesPerTake);
    for (auto& n : w_.takeNotices()) notices_.push_back(std::move(n));
    for (const auto& t : got) taken_.push_back(t);
    return got;
  }

  // Steps until `done()` or `timeout`; true if done.
  bool until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      step(std::clamp(left, 0ms, 100ms));
      if (done()) return true;
      if (Clock::now() >= deadline) return false;
    }
  }

  bool untilTaken(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    return until([&] { return taken_.size() >= n; }, timeout);
  }

  // Keeps stepping for `d` and returns what was taken meanwhile.
  std::vector<DropFileTaken> takeFor(std::chrono::milliseconds d) {
    std::vector<DropFileTaken> out;
    const auto deadline = Clock::now() + d;
    while (Clock::now() < deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      for (auto& t : step(std::clamp(left, 0ms, 50ms))) out.push_back(std::move(t));
    }
    return out;
  }

  const std::vector<DropFileTaken>& taken() const { return taken_; }
  const DropFileTaken* find(const std::string& name) const {
    for (const auto& t : taken_) {
      if (t.file.filename() == name) return &t;
    }
    return nullptr;
  }
  const std::vector<std::string>& notices() const { return notices_; }
  int calls() const { return calls_; }

 private:
  DropDirWatcher& w_;
  std::vector<DropFileTaken> taken_;
  std::vector<std::string> notices_;
  int calls_ = 0;
};

class DropDirTest : public ::testing::Test {
 protected:
  void SetUp() override { drop_ = tmp_.path() / "drop"; }

  std::unique_ptr<DropDirWatcher> openWatcher(std::chrono::milliseconds settle = 0ms) {
    auto w = DropDirWatcher::open(drop_, settle);
    if (!w.ok()) {
      ADD_FAILURE() << w.error().message;
      return nullptr;
    }
    return std::move(w).value();
  }

  fs::path processed(const std::string& name) const { return drop_ / ".processed" / name; }
  fs::path rejected(const std::string& name) const { return drop_ / ".rejected" / name; }

  TempDir tmp_;
  fs::path drop_;
};

// --- taking files ----------------------------------------------------------------

TEST_F(DropDirTest, OpenCreatesTheDirectoryAndItsSubfolders) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  for (const char* sub : {".processed", ".rejected"}) {
    struct stat st {};
    ASSERT_EQ(::lstat((drop_ / sub).c_str(), &st), 0) << sub;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0750u & ~mask) << sub;
  }
  EXPECT_THAT(takeAndFinish(*w), IsEmpty());
  EXPECT_FALSE(w->morePending());
  EXPECT_EQ(w->nextCheckIn(), std::nullopt);  // idle: only events bring work
}

TEST_F(DropDirTest, OpenFailsNamingTheDirectory) {
  const fs::path deep = tmp_.path() / "no" / "such" / "drop";
  auto w = DropDirWatcher::open(deep);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.error().message, HasSubstr(deep.string()));
  EXPECT_THAT(w.error().message, HasSubstr("No such file or directory"));

  fs::create_directories(drop_);
  writeFile(drop_ / ".processed", "a file where a folder belongs");
  auto w2 = DropDirWatcher::open(drop_);
  ASSERT_FALSE(w2.ok());
  EXPECT_THAT(w2.error().message, HasSubstr((drop_ / ".processed").string()));
}

TEST_F(DropDirTest, FilesPresentAtStartAreTakenInNameOrder) {
  fs::create_directories(drop_);
  writeFile(drop_ / "b.yaml", "jobs:\n  - id: job-b\n    labels: {customer: acme}\n");
  writeFile(drop_ / "a.txt", "# comment\njob-a1\n\njob-a2  # trailing\n");
  writeFile(drop_ / "c.yml", "jobs: [job-c]\n");
  auto w = openWatcher();
  ASSERT_TRUE(w);
  auto got = takeAndFinish(*w);
  ASSERT_THAT(names(got), ElementsAre("a.txt", "b.yaml", "c.yml"));
  for (const auto& t : got) EXPECT_FALSE(t.rejected) << t.reason;
  EXPECT_THAT(ids(got[0].entries), ElementsAre("job-a1", "job-a2"));
  EXPECT_THAT(ids(got[1].entries), ElementsAre("job-b"));
  EXPECT_EQ(got[1].entries[0].labels, (Labels{{"customer", "acme"}}));
  EXPECT_EQ(got[0].file, drop_ / "a.txt");
  EXPECT_EQ(got[0].moved_to, processed("a.txt"));
  EXPECT_THAT(topLevel(drop_), IsEmpty());
  EXPECT_TRUE(fs::exists(processed("a.txt")));
  EXPECT_TRUE(fs::exists(processed("b.yaml")));
  EXPECT_TRUE(fs::exists(processed("c.yml")));
  EXPECT_THAT(takeAndFinish(*w), IsEmpty());
}

TEST_F(DropDirTest, SettleHoldsFreshFilesFoundAtStartUntilCloseOrQuiet) {
  fs::create_directories(drop_);
  // Complete long ago: taken at once whatever the settle time.
  writeFile(drop_ / "old.yaml", "jobs: [job-old]\n");
  const timespec hour_ago[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (drop_ / "old.yaml").c_str(), hour_ago, 0), 0);
  // Being written by someone who has not closed it yet.
  const int writer = ::open((drop_ / "open.yaml").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(writer, 0);
  const std::string content = "jobs: [job-open]\n";
  ASSERT_EQ(::write(writer, content.data(), content.size()), static_cast<ssize_t>(content.size()));

  const auto settle = 10s;  // far beyond this test: only the close can take it
  auto w = openWatcher(settle);
  ASSERT_TRUE(w);
  Driver d(*w);
  EXPECT_THAT(names(d.step(0ms)), ElementsAre("old.yaml"));
  EXPECT_THAT(names(d.takeFor(300ms)), IsEmpty());
  ASSERT_TRUE(w->nextCheckIn().has_value());  // it is settling
  EXPECT_GT(*w->nextCheckIn(), 5s);

  ASSERT_EQ(::close(writer), 0);
  ASSERT_TRUE(d.untilTaken(2, 3s)) << "a close must take it long before the settle time";
  const DropFileTaken* t = d.find("open.yaml");
  ASSERT_NE(t, nullptr);
  EXPECT_FALSE(t->rejected) << t->reason;
  EXPECT_THAT(ids(t->entries), ElementsAre("job-open"));
}

TEST_F(DropDirTest, FileFoundAtStartWhoseWriterNeverClosesIsTakenAfterSettle) {
  fs::create_directories(drop_);
  const auto written = Clock::now();
  const int writer = ::open((drop_ / "held.yaml").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(writer, 0);
  const std::string content = "jobs: [job-held]\n";
  ASSERT_EQ(::write(writer, content.data(), content.size()), static_cast<ssize_t>(content.size()));

  const auto settle = 600ms;
  auto w = openWatcher(settle);
  ASSERT_TRUE(w);
  Driver d(*w);
  EXPECT_THAT(d.step(0ms), IsEmpty());
  ASSERT_TRUE(d.untilTaken(1, 5s));
  // File timestamps are coarse (a clock tick); allow for it.
  EXPECT_GE(Clock::now() - written, settle - 30ms);
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-held"));
  ::close(writer);
}

TEST_F(DropDirTest, ChunkedWriterIsTakenOnlyAfterItCloses) {
  auto w = openWatcher();  // settle 0: only the close may take it
  ASSERT_TRUE(w);
  Driver d(*w);
  const int fd = ::open((drop_ / "slow.yaml").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  for (const std::string chunk : {"jobs:\n", "  - job-1\n", "  - job-2\n  - job-3\n"}) {
    ASSERT_EQ(::write(fd, chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
    EXPECT_THAT(names(d.takeFor(250ms)), IsEmpty()) << "taken while still open";
  }
  ASSERT_EQ(::close(fd), 0);
  ASSERT_TRUE(d.untilTaken(1));
  ASSERT_EQ(d.taken().size(), 1u);
  EXPECT_FALSE(d.taken()[0].rejected) << d.taken()[0].reason;
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-1", "job-2", "job-3"));
  EXPECT_THAT(d.takeFor(100ms), IsEmpty());
}

TEST_F(DropDirTest, SlowWriterProcessIsNeverTakenPartially) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  const fs::path target = drop_ / "child.yaml";
  // One open file description written in three chunks with pauses; `sleep`
  // inherits it, so the only close that ends it is the shell's last one.
  const char* script =
      "exec 3>\"$1\"; printf 'jobs:\\n' >&3; sleep 0.2; printf '  - child-a\\n' >&3; "
      "sleep 0.2; printf '  - child-b\\n' >&3; sleep 0.2; printf '  - child-c\\n' >&3; "
      "exec 3>&-";
  std::vector<std::string> args = {"/bin/sh", "-c", script, "sh", target.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), ::environ), 0);

  ASSERT_TRUE(d.untilTaken(1, 10s));
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(d.taken().size(), 1u);
  const DropFileTaken& t = d.taken()[0];
  EXPECT_FALSE(t.rejected) << t.reason;
  EXPECT_THAT(ids(t.entries), ElementsAre("child-a", "child-b", "child-c"));
  EXPECT_THAT(d.takeFor(100ms), IsEmpty());
  EXPECT_THAT(topLevel(drop_), IsEmpty());
}

TEST_F(DropDirTest, TmpFileRenamedInIsTakenOnceAndDotfilesAreIgnored) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  writeFile(drop_ / "batch.yaml.tmp", "jobs: [job-t]\n");
  writeFile(drop_ / ".hidden.yaml", "jobs: [job-h]\n");
  EXPECT_THAT(d.takeFor(200ms), IsEmpty());
  fs::rename(drop_ / "batch.yaml.tmp", drop_ / "batch.yaml");
  ASSERT_TRUE(d.untilTaken(1));
  EXPECT_THAT(d.takeFor(200ms), IsEmpty());
  ASSERT_EQ(d.taken().size(), 1u);
  EXPECT_EQ(d.taken()[0].file, drop_ / "batch.yaml");
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-t"));
  EXPECT_TRUE(fs::exists(processed("batch.yaml")));
  EXPECT_THAT(topLevel(drop_), ElementsAre(".hidden.yaml"));
}

TEST_F(DropDirTest, HardLinkedFileIsTakenWithoutAClose) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  // Maildir-style delivery: write elsewhere, link() in, remove the staged
  // name (a file with two names is refused). No close happens here.
  writeFile(tmp_.path() / "staged.yaml", "jobs: [job-linked]\n");
  ASSERT_EQ(::link((tmp_.path() / "staged.yaml").c_str(), (drop_ / "linked.yaml").c_str()), 0);
  ASSERT_EQ(::unlink((tmp_.path() / "staged.yaml").c_str()), 0);
  ASSERT_TRUE(d.untilTaken(1, 3s));
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-linked"));
}

// A writer that links its file in and removes its own name a little later
// is not refused for the moment its file had two names.
TEST_F(DropDirTest, HardLinkWhoseOtherNameIsRemovedSoonAfterIsTaken) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  writeFile(tmp_.path() / "staged.yaml", "jobs: [job-late-unlink]\n");
  ASSERT_EQ(::link((tmp_.path() / "staged.yaml").c_str(), (drop_ / "linked.yaml").c_str()), 0);
  EXPECT_THAT(d.takeFor(300ms), IsEmpty()) << "taken while it still had two names";
  ASSERT_EQ(::unlink((tmp_.path() / "staged.yaml").c_str()), 0);
  ASSERT_TRUE(d.untilTaken(1, 3s));
  EXPECT_FALSE(d.taken()[0].rejected) << d.taken()[0].reason;
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-late-unlink"));
}

// Issue 18 #7: a hard link to a file outside the drop directory was read,
// and its content quoted into .reason and the log.
TEST_F(DropDirTest, HardLinkToAFileElsewhereIsRefusedUnread) {
  fs::create_directories(drop_);
  const fs::path secret = tmp_.path() / "secret.txt";
  writeFile(secret, "SECRET password=hunter2\n");
  ASSERT_EQ(::link(secret.c_str(), (drop_ / "found-at-start.txt").c_str()), 0);
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  ASSERT_EQ(::link(secret.c_str(), (drop_ / "linked-later.txt").c_str()), 0);
  ASSERT_TRUE(d.untilTaken(2, 10s));
  for (const char* name : {"found-at-start.txt", "linked-later.txt"}) {
    SCOPED_TRACE(name);
    const DropFileTaken* t = d.find(name);
    ASSERT_NE(t, nullptr);
    EXPECT_TRUE(t->rejected);
    EXPECT_THAT(t->reason, HasSubstr("hard links; refusing to read it"));
    EXPECT_THAT(t->reason, ::testing::Not(HasSubstr("SECRET")));
    EXPECT_THAT(readFile(rejected(std::string(name) + ".reason")),
                ::testing::Not(HasSubstr("SECRET")));
  }
  EXPECT_THAT(d.find("found-at-start.txt")->reason, HasSubstr("has 3 hard links"));
  EXPECT_EQ(readFile(secret), "SECRET password=hunter2\n") << "the outside file is untouched";
}

// Whatever a drop file holds, its .reason quotes at most 40 characters of
// any one line, escaped.
TEST_F(DropDirTest, ReasonsQuoteAtMostAShortEscapedExcerpt) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  const std::string secret = "SECRET-0123456789-0123456789-0123456789-TAIL";
  writeFile(drop_ / "lines.txt", secret + "\n" + secret + "\x1b[2J\n");
  writeFile(drop_ / "keys.yaml", "jobs: [ok-1]\n" + secret + ": x\n");
  writeFile(drop_ / "labels.yaml", "jobs:\n  - id: ok-1\n    labels: {a: \"" + secret + "\\n\", " +
                                       std::string(65, 'k') + secret + ": x}\n");
  ASSERT_TRUE(d.untilTaken(3));
  for (const auto& t : d.taken()) {
    SCOPED_TRACE(t.file.filename().string());
    EXPECT_TRUE(t.rejected);
    EXPECT_THAT(t.reason, HasSubstr("SECRET-0123456789"));  // the start, to find it
    EXPECT_THAT(t.reason, ::testing::Not(HasSubstr("TAIL")));
    EXPECT_THAT(t.reason, ::testing::Not(HasSubstr("\x1b")));
  }
}

// --- rejections ------------------------------------------------------------------

struct Expected {
  std::string name;
  std::vector<std::string> reason_parts;
};

void expectRejected(const fs::path& drop, const DropFileTaken* t, const Expected& e) {
  SCOPED_TRACE(e.name);
  ASSERT_NE(t, nullptr) << "not taken";
  EXPECT_TRUE(t->rejected);
  EXPECT_THAT(t->entries, IsEmpty());
  EXPECT_EQ(t->moved_to, drop / ".rejected" / e.name);
  struct stat st {};
  EXPECT_EQ(::lstat((drop / ".rejected" / e.name).c_str(), &st), 0) << "not in .rejected/";
  EXPECT_FALSE(fs::exists(fs::symlink_status(drop / e.name))) << "still at the top";
  const std::string reason_file = readFile(drop / ".rejected" / (e.name + ".reason"));
  EXPECT_EQ(reason_file, t->reason + "\n");
  for (const auto& part : e.reason_parts) {
    EXPECT_THAT(t->reason, HasSubstr(part));
  }
}

class Rejections : public DropDirTest {
 protected:
  // Makes one of each kind of bad drop; returns what to expect.
  std::vector<Expected> makeBadFiles() {
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 131 + 7) % 256);
    writeFile(drop_ / "garbage.yaml", garbage);
    writeFile(drop_ / "garbage2.yaml", "\x89PNG\r\n\x1a\x7f\x03\x04 {{[[\xff\xfe");
    writeFile(drop_ / "invalid.yaml", "jobs:\n  - job-1\n  - [unclosed\n");
    writeFile(drop_ / "badids.yaml", "jobs:\n  - good-1\n  - bad/id\n  - also bad\n");
    writeFile(drop_ / "badids.txt", "good-2\n../../etc/passwd\n");
    writeFile(outside_, "jobs: [job-target]\n");
    fs::create_symlink(outside_, drop_ / "link.yaml");
    EXPECT_EQ(::mkfifo((drop_ / "fifo.yaml").c_str(), 0644), 0);
    fs::create_directory(drop_ / "somedir");
    writeFile(drop_ / "somedir" / "inner.yaml", "jobs: [job-inner]\n");
    {
      const int fd = ::open((drop_ / "big.yaml").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      EXPECT_GE(fd, 0);
      EXPECT_EQ(::ftruncate(fd, 17 << 20), 0);
      ::close(fd);
    }
    writeFile(drop_ / "empty.yaml", "");
    writeFile(drop_ / "nojobs.yaml", "jobs: []\n");
    {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      const std::string path = (drop_ / "sock.yaml").string();
      EXPECT_LT(path.size(), sizeof addr.sun_path);
      std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
      socket_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      EXPECT_EQ(::bind(socket_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }
    return {
        {"garbage.yaml", {"garbage.yaml:", "binary"}},
        {"garbage2.yaml", {"garbage2.yaml:"}},
        {"invalid.yaml", {"invalid.yaml:", "invalid YAML"}},
        {"badids.yaml", {"badids.yaml:3: invalid job ID \"bad/id\"", "badids.yaml:4: "}},
        {"badids.txt", {"badids.txt:2: invalid job ID"}},
        {"link.yaml", {"symbolic link"}},
        {"fifo.yaml", {"FIFO"}},
        {"somedir", {"directory"}},
        {"big.yaml", {"17825792 bytes", "16 MiB"}},
        {"empty.yaml", {"no jobs"}},
        {"nojobs.yaml", {"no jobs"}},
        {"sock.yaml", {"socket"}},
    };
  }

  void checkAll(const Driver& d, const std::vector<Expected>& expected) {
    for (const auto& e : expected) expectRejected(drop_, d.find(e.name), e);
    EXPECT_EQ(d.taken().size(), expected.size());
    EXPECT_THAT(topLevel(drop_), IsEmpty());
    // The symlink moved as a link; its target is untouched and still there.
    struct stat st {};
    ASSERT_EQ(::lstat(rejected("link.yaml").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(fs::read_symlink(rejected("link.yaml")), outside_);
    EXPECT_EQ(readFile(outside_), "jobs: [job-target]\n");
    EXPECT_TRUE(fs::exists(rejected("somedir") / "inner.yaml"));
  }

  void TearDown() override {
    if (socket_ >= 0) ::close(socket_);
  }

  fs::path outside_ = tmp_.path() / "outside-target.yaml";
  int socket_ = -1;
};

TEST_F(Rejections, BadDropsArrivingWhileWatchedAreRejectedWithAReason) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  auto expected = makeBadFiles();
  ASSERT_TRUE(d.untilTaken(expected.size()));
  checkAll(d, expected);
}

TEST_F(Rejections, BadDropsPresentAtStartAreRejectedWithAReason) {
  fs::create_directories(drop_);
  auto expected = makeBadFiles();
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  d.step(0ms);  // one call: a FIFO must not block it
  checkAll(d, expected);
}

TEST_F(DropDirTest, OneBadEntryRejectsTheWholeFileAndListsEveryProblem) {
  fs::create_directories(drop_);
  std::string text = "jobs:\n";
  for (int i = 0; i < 70; ++i) text += "  - bad id " + std::to_string(i) + "\n";
  text += "  - good-one\n";
  writeFile(drop_ / "many.yaml", text);
  auto w = openWatcher();
  ASSERT_TRUE(w);
  auto got = takeAndFinish(*w);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].rejected);
  EXPECT_THAT(got[0].entries, IsEmpty());
  EXPECT_THAT(got[0].reason, HasSubstr("many.yaml:2: invalid job ID"));
  EXPECT_THAT(got[0].reason, HasSubstr("many.yaml:51: "));
  EXPECT_THAT(got[0].reason, HasSubstr("and 20 more problems"));
  EXPECT_EQ(std::count(got[0].reason.begin(), got[0].reason.end(), '\n'), 50);
}

// --- moves -----------------------------------------------------------------------

TEST_F(DropDirTest, NameClashesGetUniqueNamesAndNothingIsOverwritten) {
  fs::create_directories(drop_ / ".processed");
  fs::create_directories(drop_ / ".rejected");
  writeFile(processed("a.yaml"), "old");
  writeFile(processed("a.yaml.1"), "old1");
  writeFile(rejected("b.yaml"), "old-b");
  writeFile(rejected("b.yaml.reason"), "old-b-reason");
  writeFile(rejected("c.yaml.reason"), "a dropped file once called c.yaml.reason");
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  writeFile(drop_ / "a.yaml", "jobs: [job-a]\n");
  writeFile(drop_ / "b.yaml", "jobs: [bad id]\n");
  writeFile(drop_ / "c.yaml", "jobs: [bad id]\n");
  ASSERT_TRUE(d.untilTaken(3));
  EXPECT_EQ(d.find("a.yaml")->moved_to, processed("a.yaml.2"));
  EXPECT_EQ(d.find("b.yaml")->moved_to, rejected("b.yaml.1"));
  EXPECT_EQ(d.find("c.yaml")->moved_to, rejected("c.yaml.1"));
  EXPECT_EQ(readFile(processed("a.yaml")), "old");
  EXPECT_EQ(readFile(processed("a.yaml.1")), "old1");
  EXPECT_EQ(readFile(processed("a.yaml.2")), "jobs: [job-a]\n");
  EXPECT_EQ(readFile(rejected("b.yaml")), "old-b");
  EXPECT_EQ(readFile(rejected("b.yaml.reason")), "old-b-reason");
  EXPECT_THAT(readFile(rejected("b.yaml.1.reason")), HasSubstr("invalid job ID"));
  EXPECT_EQ(readFile(rejected("c.yaml.reason")), "a dropped file once called c.yaml.reason");
  EXPECT_THAT(readFile(rejected("c.yaml.1.reason")), HasSubstr("invalid job ID"));
  EXPECT_FALSE(fs::exists(rejected("c.yaml")));
}

TEST_F(DropDirTest, AnAcceptedFileStaysUntilFinishAndIsNotReturnedTwice) {
  fs::create_directories(drop_);
  writeFile(drop_ / "a.yaml", "jobs: [job-a]\n");
  auto w = openWatcher();
  ASSERT_TRUE(w);
  auto got = w->takeReady();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].moved_to.empty());
  EXPECT_THAT(topLevel(drop_), ElementsAre("a.yaml")) << "not moved before its jobs are recorded";
  EXPECT_THAT(w->takeReady(), IsEmpty());
  auto moved = w->finish(got[0]);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved.value(), processed("a.yaml"));
  EXPECT_THAT(topLevel(drop_), IsEmpty());
  EXPECT_FALSE(w->finish(got[0]).ok()) << "finishing twice is an error";
}

TEST_F(DropDirTest, AFileReplacedBeforeFinishIsTakenAgainNotMoved) {
  fs::create_directories(drop_);
  writeFile(drop_ / "a.yaml", "jobs: [job-old]\n");
  auto w = openWatcher();
  ASSERT_TRUE(w);
  auto got = w->takeReady();
  ASSERT_EQ(got.size(), 1u);
  writeFile(drop_ / "a.yaml.tmp", "jobs: [job-new]\n");
  fs::rename(drop_ / "a.yaml.tmp", drop_ / "a.yaml");
  EXPECT_FALSE(w->finish(got[0]).ok());
  Driver d(*w);
  ASSERT_TRUE(d.untilTaken(1));
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-new"));
  EXPECT_EQ(readFile(processed("a.yaml")), "jobs: [job-new]\n");
}

TEST_F(DropDirTest, SameNameDroppedAgainIsANewFileAndTakenAgain) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  writeFile(drop_ / "again.yaml", "jobs: [job-1]\n");
  ASSERT_TRUE(d.untilTaken(1));
  writeFile(drop_ / "again.yaml", "jobs: [job-2]\n");
  ASSERT_TRUE(d.untilTaken(2));
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-1"));
  EXPECT_THAT(ids(d.taken()[1].entries), ElementsAre("job-2"));
  EXPECT_EQ(readFile(processed("again.yaml")), "jobs: [job-1]\n");
  EXPECT_EQ(readFile(processed("again.yaml.1")), "jobs: [job-2]\n");
}

TEST_F(DropDirTest, OneCallReadsABoundedAmount) {
  fs::create_directories(drop_);
  for (int i = 0; i < 5; ++i) {
    // 1.5 MiB each (sparse: zeros, hence rejected as binary); one call stops
    // once it has read 4 MiB, so it takes three of them.
    const fs::path p = drop_ / ("full" + std::to_string(i) + ".yaml");
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, off_t{3} << 19), 0);
    ::close(fd);
  }
  auto w = openWatcher();
  ASSERT_TRUE(w);
  auto first = takeAndFinish(*w);
  EXPECT_THAT(names(first), ElementsAre("full0.yaml", "full1.yaml", "full2.yaml"));
  EXPECT_TRUE(w->morePending());
  EXPECT_EQ(w->nextCheckIn(), std::chrono::milliseconds::zero());
  auto second = takeAndFinish(*w);
  EXPECT_THAT(names(second), ElementsAre("full3.yaml", "full4.yaml"));
  EXPECT_FALSE(w->morePending());
  ASSERT_FALSE(second.empty());
  EXPECT_THAT(second[0].reason, HasSubstr("binary"));
}

// --- the directory itself --------------------------------------------------------

TEST_F(DropDirTest, RemovedDirectoryIsRecreatedAlikeAndStillWatched) {
  fs::create_directories(drop_);
  ASSERT_EQ(::chmod(drop_.c_str(), 0770), 0);
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  fs::remove_all(drop_);
  ASSERT_TRUE(d.until([&] { return fs::is_directory(drop_ / ".processed"); }, 3s));
  EXPECT_TRUE(fs::is_directory(drop_ / ".rejected"));
  struct stat st {};
  ASSERT_EQ(::stat(drop_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0770u);
  writeFile(drop_ / "after.yaml", "jobs: [job-after]\n");
  ASSERT_TRUE(d.untilTaken(1));
  EXPECT_THAT(ids(d.taken()[0].entries), ElementsAre("job-after"));
  std::string all;
  for (const auto& n : d.notices()) all += n + "\n";
  EXPECT_THAT(all, HasSubstr("was removed"));
}

TEST_F(DropDirTest, DirectoryReplacedByAnotherIsFollowed) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  fs::rename(drop_, tmp_.path() / "drop.old");
  fs::create_directory(drop_);
  writeFile(drop_ / "new.yaml", "jobs: [job-new]\n");
  ASSERT_TRUE(d.untilTaken(1));
  EXPECT_EQ(d.taken()[0].file, drop_ / "new.yaml");
  EXPECT_TRUE(fs::exists(processed("new.yaml")));
  writeFile(tmp_.path() / "drop.old" / "stale.yaml", "jobs: [job-stale]\n");
  writeFile(drop_ / "next.yaml", "jobs: [job-next]\n");
  ASSERT_TRUE(d.untilTaken(2));
  EXPECT_THAT(names(d.takeFor(100ms)), IsEmpty());
  EXPECT_EQ(d.taken()[1].file, drop_ / "next.yaml");
  EXPECT_TRUE(fs::exists(tmp_.path() / "drop.old" / "stale.yaml"));
}

TEST_F(DropDirTest, VanishedDirectoryIsRetriedOnTheInjectedClock) {
  const fs::path parent = tmp_.path() / "parent";
  const fs::path drop = parent / "drop";
  fs::create_directories(parent);
  ManualClock clock;
  auto opened = DropDirWatcher::open(drop, 0ms, clock);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  DropDirWatcher& w = *opened.value();
  fs::remove_all(parent);  // the drop directory cannot be recreated now
  EXPECT_THAT(w.takeReady(), IsEmpty());
  EXPECT_FALSE(fs::exists(drop));
  EXPECT_EQ(w.nextCheckIn(), std::optional<std::chrono::milliseconds>(1000ms));
  fs::create_directories(parent);
  clock.advance(999ms);
  EXPECT_THAT(w.takeReady(), IsEmpty());
  EXPECT_FALSE(fs::exists(drop)) << "retried before the clock said so";
  EXPECT_EQ(w.nextCheckIn(), std::optional<std::chrono::milliseconds>(1ms));
  clock.advance(1ms);
  EXPECT_THAT(w.takeReady(), IsEmpty());
  EXPECT_TRUE(fs::is_directory(drop / ".processed"));
  writeFile(drop / "back.yaml", "jobs: [job-back]\n");
  ASSERT_TRUE(waitReadable(w.fd(), 2000ms));
  auto got = w.takeReady();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_THAT(ids(got[0].entries), ElementsAre("job-back"));
}

TEST_F(DropDirTest, DirectoryGoneForGoodIsRetriedWithoutSpinning) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  // The parent goes too, so the drop directory cannot be recreated.
  fs::remove_all(tmp_.path());
  ASSERT_TRUE(d.until([&] { return w->nextCheckIn().has_value(); }, 3s));
  // Called in a loop, it does no work until the retry is due.
  for (int i = 0; i < 1000; ++i) EXPECT_THAT(takeAndFinish(*w), IsEmpty());
  auto next = w->nextCheckIn();
  ASSERT_TRUE(next.has_value());
  EXPECT_GT(*next, 0ms);
  EXPECT_LE(*next, 1000ms);
  fs::create_directories(tmp_.path());  // the parent comes back
  ASSERT_TRUE(d.until([&] { return fs::is_directory(drop_ / ".processed"); }, 3s));
  writeFile(drop_ / "back.yaml", "jobs: [job-back]\n");
  ASSERT_TRUE(d.untilTaken(1));
  std::string all;
  for (const auto& n : d.notices()) all += n + "\n";
  EXPECT_THAT(all, HasSubstr("retrying"));
}

TEST_F(DropDirTest, ManyFilesAtOnceAreAllTakenWithBoundedCalls) {
  // More events than the inotify queue holds (CREATE, OPEN, CLOSE_WRITE per
  // file), so the queue overflows and the watcher must rescan.
  long max_queued = 16384;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> max_queued;
  const long n = std::clamp(max_queued / 2 + 1000, 5000L, 40000L);
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  EXPECT_THAT(d.step(0ms), IsEmpty());  // the start-up scan is behind us
  for (long i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "f%06ld.txt", i);
    const int fd = ::open((drop_ / name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const std::string line = "job-" + std::to_string(i) + "\n";
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    ::close(fd);
  }
  const int bound = static_cast<int>(n / static_cast<long>(kMaxDropFilesPerTake)) + 20;
  ASSERT_TRUE(d.until([&] { return d.taken().size() >= static_cast<std::size_t>(n); }, 15s));
  EXPECT_LE(d.calls(), bound);
  EXPECT_EQ(d.taken().size(), static_cast<std::size_t>(n));
  std::set<std::string> seen;
  for (const auto& t : d.taken()) {
    EXPECT_FALSE(t.rejected) << t.reason;
    seen.insert(t.file.filename().string());
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n)) << "a file was taken twice";
  EXPECT_THAT(topLevel(drop_), IsEmpty());
  EXPECT_THAT(d.takeFor(100ms), IsEmpty());
  if (3 * n > max_queued) {
    std::string all;
    for (const auto& s : d.notices()) all += s + "\n";
    EXPECT_THAT(all, HasSubstr("overflow"));
  }
}

// --- writeDropFile into a watched directory --------------------------------------

TEST_F(DropDirTest, WriteDropFileIsSeenOnceUnderItsFinalName) {
  auto w = openWatcher();
  ASSERT_TRUE(w);
  Driver d(*w);
  const auto entries = awkwardEntries();
  auto written = writeDropFile(drop_, entries);
  ASSERT_TRUE(written.ok()) << written.error().message;
  ASSERT_TRUE(d.untilTaken(1));
  EXPECT_THAT(d.takeFor(200ms), IsEmpty());
  ASSERT_EQ(d.taken().size(), 1u);
  const DropFileTaken& t = d.taken()[0];
  EXPECT_EQ(t.file, written.value());
  EXPECT_FALSE(t.rejected) << t.reason;
  ASSERT_EQ(t.entries.size(), entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(t.entries[i].id, entries[i].id);
    EXPECT_EQ(t.entries[i].labels, entries[i].labels);
  }
  EXPECT_THAT(topLevel(drop_), IsEmpty());
}

}  // namespace
}  // namespace jobwatch::watchlist
