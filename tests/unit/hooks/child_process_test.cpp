// SPDX-License-Identifier: Apache-2.0
#include "hooks/child_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "hook_test_support.h"

namespace jobwatch::hooks {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

const std::vector<std::string> kEnv{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};

struct Finished {
  ExitInfo exit;
  std::vector<OutputLine> lines;
  std::chrono::steady_clock::duration elapsed{};
};

// Drives a child like the runner does (poll, pump, reap), bounded.
std::optional<Finished> runToEnd(ChildProcess& child, std::chrono::milliseconds bound = 10s) {
  Finished f;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    child.pump(f.lines);
    if (auto exit = child.reap()) {
      child.pump(f.lines);
      f.exit = *exit;
      f.elapsed = std::chrono::steady_clock::now() - start;
      return f;
    }
    std::vector<pollfd> fds;
    for (const auto& p : child.fds()) fds.push_back({p.fd, p.events, 0});
    ::poll(fds.data(), fds.size(), child.hasPidfd() ? 1000 : 20);
  }
  return std::nullopt;
}

std::unique_ptr<ChildProcess> spawnOk(SpawnSpec spec) {
  auto child = ChildProcess::spawn(spec);
  if (!child) ADD_FAILURE() << child.error().message;
  return child ? std::move(child).value() : nullptr;
}

std::vector<std::string> texts(const std::vector<OutputLine>& lines, bool is_stderr) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.is_stderr == is_stderr) out.push_back(l.text);
  }
  return out;
}

TEST(ChildProcess, CollectsLinesOfBothStreamsAndExitCode) {
  auto child =
      spawnOk({{"/bin/sh", "-c", "echo one; echo err >&2; printf 'two\\nlast'; exit 3"}, kEnv, ""});
  ASSERT_TRUE(child);
  EXPECT_TRUE(child->hasPidfd());
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->exit.exited);
  EXPECT_EQ(f->exit.code, 3);
  EXPECT_EQ(texts(f->lines, false), (std::vector<std::string>{"one", "two", "last"}));
  EXPECT_EQ(texts(f->lines, true), (std::vector<std::string>{"err"}));
  EXPECT_TRUE(child->fds().empty());
}

TEST(ChildProcess, ReportsDeathBySignal) {
  auto child = spawnOk({{"/bin/sh", "-c", "kill -KILL $$"}, kEnv, ""});
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->exit.exited);
  EXPECT_EQ(f->exit.signal, SIGKILL);
}

TEST(ChildProcess, StdinIsDeliveredByteForByteEvenWhenLarge) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 300000; ++i)
    data += static_cast<char>(i * 7 % 256);  // > pipe capacity, binary
  auto child = spawnOk({{"/bin/sh", "-c", "cat > \"$0\"", dir / "stdin"}, kEnv, data});
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->exit.code, 0);
  EXPECT_EQ(testing::readFile(dir / "stdin"), data);
}

TEST(ChildProcess, ChildThatIgnoresStdinDoesNotHurtTheParent) {
  // The test process keeps SIGPIPE's default action: a write to the closed
  // pipe must not kill it.
  ASSERT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_DFL);
  std::string data(1 << 20, 'x');
  auto child = spawnOk({{"/bin/sh", "-c", "exec 0<&-; echo closed; sleep 0.2"}, kEnv, data});
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->exit.code, 0);
  EXPECT_EQ(texts(f->lines, false), std::vector<std::string>{"closed"});
}

TEST(ChildProcess, EnvironmentIsExactlyTheGivenOne) {
  ASSERT_EQ(::setenv("UNSILOED_API_KEY", "secret", 1), 0);
  auto child = spawnOk({{"/usr/bin/env"}, {"PATH=/bin", "A=1", "B="}, ""});
  ::unsetenv("UNSILOED_API_KEY");
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_EQ(texts(f->lines, false), (std::vector<std::string>{"PATH=/bin", "A=1", "B="}));
}

TEST(ChildProcess, LooksUpBareNamesInTheChildsPathNotTheDaemons) {
  TempDir dir;
  testing::writeScript(dir, "my-hook", "echo \"ran $0\"\n");
  testing::writeFile(dir / "not-exec", "#!/bin/sh\n");  // no x bit: skipped
  ::mkdir((dir / "sub").c_str(), 0755);
  std::string path = "PATH=/nonexistent::" + dir.path().string();
  auto child = spawnOk({{"my-hook"}, {path}, ""});
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_EQ(texts(f->lines, false), std::vector<std::string>{"ran " + (dir / "my-hook").string()});

  // `sh` is in the daemon's PATH, but not in the one given to the child.
  auto missing = ChildProcess::spawn({{"sh", "-c", "true"}, {"PATH=" + dir.path().string()}, ""});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "command not found: sh");
  auto not_exec = ChildProcess::spawn({{"not-exec"}, {"PATH=" + dir.path().string()}, ""});
  ASSERT_FALSE(not_exec);
  EXPECT_EQ(not_exec.error().message, "command not found: not-exec");
  auto dir_named = ChildProcess::spawn({{"sub"}, {"PATH=" + dir.path().string()}, ""});
  EXPECT_FALSE(dir_named);
}

TEST(ChildProcess, SpawnErrorsAreValues) {
  auto missing = ChildProcess::spawn({{"/nonexistent/hook"}, kEnv, ""});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/nonexistent/hook"), std::string::npos);
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos)
      << missing.error().message;
  EXPECT_FALSE(ChildProcess::spawn({{}, kEnv, ""}));
  EXPECT_FALSE(ChildProcess::spawn({{"/etc"}, kEnv, ""}));
}

TEST(ChildProcess, OnlyStdioIsInheritedEvenWithoutCloexec) {
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaked, 3);
  int high = ::fcntl(leaked, F_DUPFD, 200);  // and one far away
  ASSERT_GE(high, 200);
  // `[ -e ]` opens nothing, so the listing is exact; fds 0..255 cover both.
  auto child =
      spawnOk({{"/bin/sh", "-c",
                "i=0; while [ $i -le 255 ]; do [ -e /proc/$$/fd/$i ] && echo $i; i=$((i+1)); done; "
                "readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 | cut -d: -f1"},
               kEnv,
               ""});
  ::close(leaked);
  ::close(high);
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_EQ(texts(f->lines, false),
            (std::vector<std::string>{"0", "1", "2", "pipe", "pipe", "pipe"}));
}

TEST(ChildProcess, ChildGetsEmptySignalMaskDefaultDispositionsAndOwnGroup) {
  sigset_t block, old_mask;
  sigemptyset(&block);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&block, sig);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &block, &old_mask), 0);
  auto old_pipe = ::signal(SIGPIPE, SIG_IGN);
  auto old_hup = ::signal(SIGHUP, SIG_IGN);
  auto child = spawnOk({{"/bin/grep", "-E", "^(SigBlk|SigIgn):", "/proc/self/status"}, kEnv, ""});
  auto sleeper = spawnOk({{"/bin/sleep", "30"}, kEnv, ""});
  ::signal(SIGPIPE, old_pipe);
  ::signal(SIGHUP, old_hup);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_TRUE(child);
  ASSERT_TRUE(sleeper);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  auto status = texts(f->lines, false);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0], "SigBlk:\t0000000000000000");
  ASSERT_EQ(status[1].rfind("SigIgn:\t", 0), 0u);
  // Every standard and application real-time signal at its default. glibc's
  // posix_spawn leaves its two internal signals (32, 33) ignored in the child
  // of a threaded parent, and refuses to put them in the "default" set.
  const unsigned long long ignored = std::stoull(status[1].substr(8), nullptr, 16);
  EXPECT_EQ(ignored & ~0x180000000ULL, 0ULL) << status[1];

  EXPECT_EQ(::getpgid(sleeper->pid()), sleeper->pid());
  EXPECT_NE(::getpgid(sleeper->pid()), ::getpgrp());
}

TEST(ChildProcess, ExitIsNotHeldBackByAGrandchildHoldingThePipes) {
  testing::becomeSubreaper();
  auto child = spawnOk({{"/bin/sh", "-c", "sleep 300 & echo mine; exit 4"}, kEnv, ""});
  ASSERT_TRUE(child);
  const pid_t pgid = child->pid();
  auto f = runToEnd(*child, 5s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->exit.code, 4);
  EXPECT_EQ(texts(f->lines, false), std::vector<std::string>{"mine"});
  EXPECT_LT(f->elapsed, 3s);
  EXPECT_TRUE(child->fds().empty());
  // The grandchild was left alone (the hook exited normally); clean it up.
  EXPECT_EQ(::kill(-pgid, 0), 0);
  testing::killGroup(pgid);
}

TEST(ChildProcess, AfterSignalGroupStragglersDieWithTheChild) {
  testing::becomeSubreaper();
  // The grandchild ignores SIGTERM, the shell does not.
  auto child =
      spawnOk({{"/bin/sh", "-c", "(trap '' TERM; exec sleep 300) & echo ready; wait"}, kEnv, ""});
  ASSERT_TRUE(child);
  const pid_t pgid = child->pid();
  std::vector<OutputLine> lines;
  ASSERT_TRUE(testing::waitUntil([&] {
    child->pump(lines);
    return !lines.empty();
  }));
  child->signalGroup(SIGTERM);
  auto f = runToEnd(*child, 5s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->exit.signal, SIGTERM);
  EXPECT_TRUE(testing::groupGone(pgid));
}

TEST(ChildProcess, DestructorKillsTheWholeGroupAndReaps) {
  testing::becomeSubreaper();
  pid_t pgid;
  {
    auto child = spawnOk({{"/bin/sh", "-c", "sleep 300 & sleep 300"}, kEnv, ""});
    ASSERT_TRUE(child);
    pgid = child->pid();
  }
  EXPECT_TRUE(testing::groupGone(pgid));
  // Reaped by the destructor, not by groupGone: no zombie with that pid.
  EXPECT_EQ(::waitpid(pgid, nullptr, WNOHANG), -1);
}

TEST(ChildProcess, OutputIsBoundedWithoutBlockingTheChild) {
  // ~200 KiB on each stream, interleaved, plus a 10 KiB line first.
  auto child =
      spawnOk({{"/bin/sh", "-c",
                "head -c 10240 /dev/zero | tr '\\0' a; echo; "
                "line=$(head -c 100 /dev/zero | tr '\\0' b); i=0; "
                "while [ $i -lt 2000 ]; do echo \"$line\"; echo \"$line\" >&2; i=$((i+1)); done"},
               kEnv,
               ""});
  ASSERT_TRUE(child);
  auto f = runToEnd(*child, 20s);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->exit.code, 0);
  ASSERT_FALSE(f->lines.empty());
  EXPECT_EQ(f->lines[0].text, std::string(ChildProcess::kMaxLine, 'a') + "\xe2\x80\xa6[truncated]");
  size_t total = 0;
  for (const auto& l : f->lines) total += l.text.size() + 1;
  EXPECT_LE(total, ChildProcess::kMaxOutput + 2 * ChildProcess::kMaxLine);
  EXPECT_GT(total, ChildProcess::kMaxOutput / 2);
  const size_t produced = 10241 + 2 * 2000 * 101;
  EXPECT_GT(child->droppedBytes(), produced - ChildProcess::kMaxOutput - 100);
  EXPECT_LE(child->droppedBytes(), produced);
}

TEST(ChildProcess, ControlBytesAreEscapedAndUtf8Kept) {
  auto child = spawnOk({{"/bin/printf", "a\\tb\\033[31mc\\r\\nd\\377e \xc3\xa9\\n"}, kEnv, ""});
  ASSERT_TRUE(child);
  auto f = runToEnd(*child);
  ASSERT_TRUE(f);
  EXPECT_EQ(texts(f->lines, false),
            (std::vector<std::string>{"a\tb\\x1b[31mc", "d\\xffe \xc3\xa9"}));
}

}  // namespace
}  // namespace jobwatch::hooks
