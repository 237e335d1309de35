// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "hook_runner_fixture.h"
#include "hook_test_support.h"
#include "hooks/child_process.h"

namespace jobwatch::hooks {
namespace {

using testing::readFile;
using testing::splitLines;
using testing::waitUntil;
using testing::writeScript;

// Restores the environment variables a test sets.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

TEST_F(HookRunnerTest, HookGetsExactlyTheSpecEnvironmentArgvAndStdin) {
  // The daemon's own environment (secrets, systemd sockets) must not leak.
  ScopedEnv key("UNSILOED_API_KEY", "secret");
  ScopedEnv notify("NOTIFY_SOCKET", "/x");
  ScopedEnv watchdog("WATCHDOG_USEC", "1000000");
  ScopedEnv creds("CREDENTIALS_DIRECTORY", "/run/credentials/jobwatchd.service");

  // /proc/$$/environ is what the shell received from execve, byte for byte
  // (`env` would also show variables the shell adds itself, such as PWD).
  std::string script = writeScript(dir_, "record.sh",
                                   "out=\"$1\"\n"
                                   "cat /proc/$$/environ > \"$out/environ\"\n"
                                   "printf '%s\\n' \"$0\" \"$@\" > \"$out/argv\"\n"
                                   "cat > \"$out/stdin\"\n");
  HookRun run = sampleRun("b2094b38-e432-44b6-a5d0-67bed07d5de1", "record");
  run.labels = {{"customer", "acme"}, {"batch_No", "2026-11"}};
  run.facts.error = "";
  run.body = "{\"id\": \"b2094b38\", \"note\": \"caf\xc3\xa9 \\\"q\\\"\",\n \"x\": null}  \n";
  addRuns({run});

  auto runner =
      makeRunner(options({commandHook("record", {script, dir_.path().string(), "two words", ""})}));
  runner->runUntilIdle(10s);

  ASSERT_EQ(events_.results(), std::vector<HookResult>{HookResult::kSuccess}) << logs_.text();
  std::string environ = readFile(path("environ"));
  std::vector<std::string> vars;
  for (size_t start = 0; start < environ.size();) {
    size_t end = environ.find('\0', start);
    if (end == std::string::npos) end = environ.size();
    vars.push_back(environ.substr(start, end - start));
    start = end + 1;
  }
  std::set<std::string> actual(vars.begin(), vars.end());
  EXPECT_EQ(actual.size(), vars.size()) << "duplicate variables";
  std::set<std::string> expected{
      "PATH=/usr/local/bin:/usr/bin:/bin",
      "LANG=C.UTF-8",
      "JOBWATCH_EVENT_ID=b2094b38-e432-44b6-a5d0-67bed07d5de1:completed",
      "JOBWATCH_HOOK=record",
      "JOBWATCH_JOB_ID=b2094b38-e432-44b6-a5d0-67bed07d5de1",
      "JOBWATCH_STATUS=completed",
      "JOBWATCH_PREVIOUS_STATUS=processing",
      "JOBWATCH_STATUS_RAW=COMPLETED",
      "JOBWATCH_JOB_TYPE=extraction",
      "JOBWATCH_PDF_NAME=report.pdf",
      "JOBWATCH_PDF_HASH=sha256:abc",
      "JOBWATCH_ERROR=",
      "JOBWATCH_CREATED_AT=2024-01-15T10:30:00.000Z",
      "JOBWATCH_UPDATED_AT=2024-01-15T10:31:00.000Z",
      "JOBWATCH_ATTEMPT=1",
      "JOBWATCH_ACCOUNT=default",
      "JOBWATCH_LABEL_CUSTOMER=acme",
      "JOBWATCH_LABEL_BATCH_NO=2026-11",
  };
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(environ.find("secret"), std::string::npos);

  EXPECT_EQ(splitLines(readFile(path("argv"))),
            (std::vector<std::string>{script, dir_.path().string(), "two words", ""}));
  EXPECT_EQ(readFile(path("stdin")), run.body);

  HookRun row = ledger(run.job_id, "record");
  EXPECT_EQ(row.state, HookRunState::kSucceeded);
  EXPECT_EQ(row.attempts, 1);
  EXPECT_EQ(runner->running(), 0u);
  EXPECT_EQ(events_.lastPending(), 0u);
}

TEST_F(HookRunnerTest, HookInheritsNoDescriptorBeyondStdio) {
  int leaked = ::open("/dev/null", O_RDONLY);  // deliberately not O_CLOEXEC
  ASSERT_GE(leaked, 3);
  int high = ::fcntl(leaked, F_DUPFD, 200);
  ASSERT_GE(high, 200);
  // `[ -e ]` opens nothing and the list is written once at the end, so the
  // shell's own descriptors are exactly what it inherited.
  std::string out = path("fds");
  addRuns({sampleRun("j1", "fds")});
  auto runner = makeRunner(options({shellHook(
      "fds",
      "l=''; i=0; while [ $i -le 255 ]; do [ -e /proc/$$/fd/$i ] && l=\"$l $i\"; i=$((i+1)); done; "
      "echo \"$l\" > " +
          out)}));
  runner->runUntilIdle(10s);
  ::close(leaked);
  ::close(high);
  EXPECT_EQ(readFile(out), " 0 1 2\n") << logs_.text();
}

TEST_F(HookRunnerTest, LargeInterleavedOutputIsLoggedBoundedWithoutDeadlock) {
  addRuns({sampleRun("j1", "chatty")});
  auto runner =
      makeRunner(options({shellHook("chatty",
                                    "head -c 10240 /dev/zero | tr '\\0' a; echo; "
                                    "line=$(head -c 100 /dev/zero | tr '\\0' b); i=0; "
                                    "while [ $i -lt 2000 ]; do echo \"$line\"; echo \"$line\" >&2; "
                                    "i=$((i+1)); done; echo tail-marker")}));
  const auto start = std::chrono::steady_clock::now();
  runner->runUntilIdle(20s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  ASSERT_EQ(events_.results(), std::vector<HookResult>{HookResult::kSuccess}) << logs_.text();

  const std::string text = logs_.text();
  size_t output_lines = 0, stdout_lines = 0, stderr_lines = 0;
  for (const auto& line : splitLines(text)) {
    if (line.find("hook output hook=chatty job_id=j1 ") == std::string::npos) continue;
    ++output_lines;
    stdout_lines += line.find("stream=stdout") != std::string::npos;
    stderr_lines += line.find("stream=stderr") != std::string::npos;
  }
  // 64 KiB of 101-byte lines, plus the truncated first line.
  EXPECT_GE(output_lines, 500u);
  EXPECT_LE(output_lines, 1 + ChildProcess::kMaxOutput / 101 + 2);
  EXPECT_GT(stdout_lines, 100u);
  EXPECT_GT(stderr_lines, 100u);
  // The 10 KiB line is cut at kMaxLine and marked.
  EXPECT_NE(text.find("stream=stdout line=" + std::string(ChildProcess::kMaxLine, 'a') +
                      "\xe2\x80\xa6[truncated]\n"),
            std::string::npos);
  EXPECT_EQ(text.find(std::string(ChildProcess::kMaxLine + 1, 'a')), std::string::npos);
  EXPECT_EQ(text.find("tail-marker"), std::string::npos);  // past the budget
  EXPECT_NE(text.find("hook succeeded hook=chatty"), std::string::npos);
  EXPECT_NE(text.find("output_dropped_bytes="), std::string::npos);
}

TEST_F(HookRunnerTest, TimeoutTerminatesTheWholeGroup) {
  std::string pid_file = path("pid");
  addRuns({sampleRun("j1", "slow")});
  auto runner = makeRunner(
      options({shellHook("slow", "echo $$ > " + pid_file + "; sleep 300 & wait", 1s, 0)}));
  const auto start = std::chrono::steady_clock::now();
  runner->runUntilIdle(10s);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_EQ(events_.results(), std::vector<HookResult>{HookResult::kTimeout}) << logs_.text();
  EXPECT_GE(elapsed, 1s);
  EXPECT_LT(elapsed, 5s);
  const pid_t pgid = std::stoi(readFile(pid_file));
  EXPECT_TRUE(testing::groupGone(pgid)) << "the hook's background sleep survived";
  HookRun row = ledger("j1", "slow");
  EXPECT_EQ(row.state, HookRunState::kFailed);
  EXPECT_EQ(row.last_error, "timed out after 1s (killed by SIGTERM)");
  // SIGTERM was enough: no SIGKILL after the grace.
  EXPECT_EQ(logs_.text().find("hook ignored SIGTERM"), std::string::npos);
  EXPECT_NE(logs_.text().find("hook failed permanently hook=slow"), std::string::npos);
}

TEST_F(HookRunnerTest, HookIgnoringSigtermIsKilledAfterTheGrace) {
  std::string pid_file = path("pid");
  addRuns({sampleRun("j1", "stubborn")});
  auto runner = makeRunner(options({shellHook(
      "stubborn", "trap '' TERM; echo $$ > " + pid_file + "; sleep 300 & wait", 1s, 0)}));
  const auto start = std::chrono::steady_clock::now();
  runner->runUntilIdle(10s);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  ASSERT_EQ(events_.results(), std::vector<HookResult>{HookResult::kTimeout}) << logs_.text();
  EXPECT_GE(elapsed, 1500ms);  // timeout + kill_grace
  EXPECT_LT(elapsed, 4s);
  const pid_t pgid = std::stoi(readFile(pid_file));
  EXPECT_TRUE(testing::groupGone(pgid));
  EXPECT_NE(logs_.text().find("hook ignored SIGTERM"), std::string::npos);
  EXPECT_EQ(ledger("j1", "stubborn").last_error, "timed out after 1s (killed by SIGKILL)");
}

TEST_F(HookRunnerTest, FailingHookIsRetriedUntilItSucceedsAndNeverAgain) {
  std::string script = writeScript(dir_, "flaky.sh",
                                   "n=$(cat \"$1/count\" 2>/dev/null || echo 0); n=$((n+1))\n"
                                   "echo $n > \"$1/count\"\n"
                                   "echo \"$JOBWATCH_ATTEMPT\" >> \"$1/attempts\"\n"
                                   "[ $n -ge 3 ] || { echo \"not yet $n\" >&2; exit 1; }\n");
  addRuns({sampleRun("j1", "flaky")});
  auto runner = makeRunner(options({commandHook("flaky", {script, dir_.path().string()}, 10s, 3)}));
  runner->start();
  ASSERT_TRUE(waitUntil([&] { return ledgerState("j1", "flaky", HookRunState::kSucceeded); }))
      << logs_.text();
  runner->wake();
  runner->stop();
  runner->runUntilIdle(200ms);
  runner->wake();
  runner->runUntilIdle(200ms);

  EXPECT_EQ(readFile(path("count")), "3\n");
  EXPECT_EQ(readFile(path("attempts")), "1\n2\n3\n");
  EXPECT_EQ(events_.results(), (std::vector<HookResult>{HookResult::kFailure, HookResult::kFailure,
                                                        HookResult::kSuccess}));
  HookRun row = ledger("j1", "flaky");
  EXPECT_EQ(row.state, HookRunState::kSucceeded);
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(logs_.count("hook failed hook=flaky"), 2u);
  EXPECT_EQ(logs_.count("retry=true"), 2u);
  EXPECT_EQ(logs_.count("failed permanently"), 0u);
  EXPECT_EQ(events_.lastPending(), 0u);
}

TEST_F(HookRunnerTest, AlwaysFailingHookRunsOnePlusRetriesTimesThenFails) {
  std::string counter = path("count");
  addRuns({sampleRun("j1", "broken")});
  auto runner = makeRunner(options({shellHook(
      "broken", "echo x >> " + counter + "; echo 'upstream said no' >&2; exit 7", 10s, 2)}));
  runner->start();
  ASSERT_TRUE(waitUntil([&] { return ledgerState("j1", "broken", HookRunState::kFailed); }))
      << logs_.text();
  runner->stop();
  runner->runUntilIdle(200ms);

  EXPECT_EQ(splitLines(readFile(counter)).size(), 3u);
  EXPECT_EQ(events_.results(), std::vector<HookResult>(3, HookResult::kFailure));
  HookRun row = ledger("j1", "broken");
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(row.last_error, "exit code 7: upstream said no");
  EXPECT_EQ(logs_.count("hook failed permanently hook=broken"), 1u);
  EXPECT_EQ(logs_.count("hook failed hook=broken"), 2u);
  EXPECT_NE(logs_.text().find(" error hook failed permanently"), std::string::npos) << logs_.text();
}

TEST_F(HookRunnerTest, NeverMoreThanMaxConcurrentHooksAlive) {
  std::string script = writeScript(
      dir_, "busy.sh",
      "d=\"$1\"\n"
      "flock \"$d/lock\" sh -c 'n=$(cat \"$0/alive\" 2>/dev/null || echo 0); n=$((n+1)); "
      "echo $n > \"$0/alive\"; echo \"start $n $JOBWATCH_JOB_ID\" >> \"$0/log\"' \"$d\"\n"
      // Stay alive until a second hook is (bounded: 0.5 s), so that overlap
      // does not depend on scheduling luck.
      "i=0; while [ \"$(cat \"$d/alive\" 2>/dev/null)\" != 2 ] && [ $i -lt 50 ]; do sleep 0.01; "
      "i=$((i+1)); done\n"
      "sleep 0.02\n"
      "flock \"$d/lock\" sh -c 'n=$(cat \"$0/alive\"); echo $((n-1)) > \"$0/alive\"; "
      "echo \"end $JOBWATCH_JOB_ID\" >> \"$0/log\"' \"$d\"\n");
  std::vector<HookRun> runs;
  for (int i = 0; i < 20; ++i) runs.push_back(sampleRun("job" + std::to_string(i), "busy"));
  addRuns(runs);
  auto runner = makeRunner(options({commandHook("busy", {script, dir_.path().string()})}, 2));
  runner->runUntilIdle(30s);

  std::map<std::string, int> starts, ends;
  int max_alive = 0;
  for (const auto& line : splitLines(readFile(path("log")))) {
    std::istringstream in(line);
    std::string word;
    in >> word;
    if (word == "start") {
      int alive;
      std::string job;
      in >> alive >> job;
      max_alive = std::max(max_alive, alive);
      ++starts[job];
    } else if (word == "end") {
      std::string job;
      in >> job;
      ++ends[job];
    }
  }
  EXPECT_EQ(starts.size(), 20u);
  EXPECT_EQ(ends.size(), 20u);
  for (const auto& [job, n] : starts) EXPECT_EQ(n, 1) << job;
  EXPECT_LE(max_alive, 2);
  EXPECT_EQ(max_alive, 2) << "hooks never overlapped: concurrency not used";
  EXPECT_EQ(events_.finishedCount(), 20u);
  EXPECT_EQ(store_->countRuns(HookRunState::kSucceeded).value(), 20u);
  EXPECT_EQ(runner->running(), 0u);
}

TEST_F(HookRunnerTest, RunInterruptedByACrashRunsAgainWithTheNextAttempt) {
  addRuns({sampleRun("j1", "record")});
  // The previous process claimed the run (it was running) and died.
  auto claimed = store_->claimDueRuns(clock_.wallNow(), 10);
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->size(), 1u);
  store_.reset();
  openStore();
  auto recovered = store_->recoverInterruptedRuns();
  ASSERT_TRUE(recovered);
  EXPECT_EQ(*recovered, 1u);

  std::string out = path("attempt");
  auto runner = makeRunner(
      options({shellHook("record", "echo \"$JOBWATCH_ATTEMPT $JOBWATCH_EVENT_ID\" > " + out)}));
  runner->runUntilIdle(10s);
  EXPECT_EQ(readFile(out), "2 j1:completed\n");
  EXPECT_EQ(ledger("j1", "record").state, HookRunState::kSucceeded);
}

TEST_F(HookRunnerTest, StopKillsAHookPastTheDrainTimeoutAndLeavesItPending) {
  std::string pid_file = path("pid");
  addRuns({sampleRun("j1", "sleeper")});
  auto runner =
      makeRunner(options({shellHook("sleeper", "echo $$ > " + pid_file + "; sleep 300")}));
  runner->start();
  ASSERT_TRUE(waitUntil([&] { return !readFile(pid_file).empty(); }));
  const pid_t pgid = std::stoi(readFile(pid_file));
  // The child can write its PID before the runner's thread has counted it.
  ASSERT_TRUE(waitUntil([&] { return runner->running() == 1u; }));

  const auto start = std::chrono::steady_clock::now();
  runner->stop();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 300ms);
  EXPECT_LT(elapsed, 5s);
  EXPECT_TRUE(testing::groupGone(pgid));
  EXPECT_EQ(runner->running(), 0u);
  EXPECT_TRUE(events_.finished().empty());
  HookRun row = ledger("j1", "sleeper");
  EXPECT_EQ(row.state, HookRunState::kPending);
  EXPECT_EQ(row.attempts, 1);
  EXPECT_NE(logs_.text().find("it will run again on next start"), std::string::npos);

  // The next start runs it again, and says so.
  std::string out = path("attempt");
  config::HooksConfig hooks;
  hooks.definitions = {shellHook("sleeper", "echo $JOBWATCH_ATTEMPT > " + out)};
  runner->setHooks(hooks);
  runner->runUntilIdle(10s);
  EXPECT_EQ(readFile(out), "2\n");
  EXPECT_EQ(ledger("j1", "sleeper").state, HookRunState::kSucceeded);
}

TEST_F(HookRunnerTest, StopWaitsForAHookThatFinishesWithinTheDrainTimeout) {
  std::string started = path("started");
  std::string out = path("out");
  addRuns({sampleRun("j1", "short")});
  auto o = options({shellHook("short", "touch " + started + "; sleep 0.2; echo done > " + out)});
  o.drain_timeout = 10s;
  auto runner = makeRunner(o);
  runner->start();
  ASSERT_TRUE(waitUntil([&] { return ::access(started.c_str(), F_OK) == 0; }));
  const auto start = std::chrono::steady_clock::now();
  runner->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "stop waited for more than the hook";
  EXPECT_EQ(readFile(out), "done\n");
  EXPECT_EQ(ledger("j1", "short").state, HookRunState::kSucceeded);
  EXPECT_EQ(events_.results(), std::vector<HookResult>{HookResult::kSuccess});
}

TEST_F(HookRunnerTest, RunningThreadPicksUpNewRunsOnWakeAndByItself) {
  std::string out = path("ran");
  auto runner = makeRunner(options({shellHook("log", "echo $JOBWATCH_JOB_ID >> " + out)}));
  runner->start();
  addRuns({sampleRun("j1", "log")});
  runner->wake();
  ASSERT_TRUE(waitUntil([&] { return ledgerState("j1", "log", HookRunState::kSucceeded); }, 5s));
  // A writer that forgets wake(): the periodic recheck still finds it.
  addRuns({sampleRun("j2", "log")});
  ASSERT_TRUE(waitUntil([&] { return ledgerState("j2", "log", HookRunState::kSucceeded); }, 5s));
  runner->stop();
  EXPECT_EQ(readFile(out), "j1\nj2\n");
  EXPECT_EQ(events_.lastPending(), 0u);
}

TEST_F(HookRunnerTest, SpawnErrorIsRetriedThenFails) {
  addRuns({sampleRun("j1", "missing"), sampleRun("j2", "unnamed")});
  auto runner =
      makeRunner(options({commandHook("missing", {"/nonexistent/jobwatch-hook"}, 10s, 1),
                          commandHook("unnamed", {"jobwatch-no-such-command", "x"}, 10s, 1)}));
  runner->start();
  ASSERT_TRUE(waitUntil([&] {
    return ledgerState("j1", "missing", HookRunState::kFailed) &&
           ledgerState("j2", "unnamed", HookRunState::kFailed);
  })) << logs_.text();
  runner->stop();

  EXPECT_EQ(events_.results(), std::vector<HookResult>(4, HookResult::kSpawnError));
  HookRun missing = ledger("j1", "missing");
  EXPECT_EQ(missing.attempts, 2);
  EXPECT_NE(missing.last_error.find("spawn error: cannot run /nonexistent/jobwatch-hook"),
            std::string::npos)
      << missing.last_error;
  HookRun unnamed = ledger("j2", "unnamed");
  EXPECT_EQ(unnamed.attempts, 2);
  EXPECT_EQ(unnamed.last_error, "spawn error: command not found: jobwatch-no-such-command");
  EXPECT_EQ(logs_.count("result=spawn_error"), 4u);
}

TEST_F(HookRunnerTest, RunOfAHookNoLongerConfiguredEndsFailed) {
  addRuns({sampleRun("j1", "removed")});
  auto runner = makeRunner(options({shellHook("other", "true")}));
  runner->runUntilIdle(5s);
  HookRun row = ledger("j1", "removed");
  EXPECT_EQ(row.state, HookRunState::kFailed);
  EXPECT_EQ(row.last_error, "hook no longer configured");
  EXPECT_NE(logs_.text().find("hook no longer configured"), std::string::npos);
  EXPECT_TRUE(events_.finished().empty());
}

TEST_F(HookRunnerTest, OutcomeIsKeptAndRecordedLaterWhenTheStoreFails) {
  std::string started = path("started");
  std::string go = path("go");
  std::string counter = path("count");
  addRuns({sampleRun("j1", "once")});
  // One slot: while the hook runs the runner makes no other write, so the
  // injected failure hits finishRun.
  auto runner = makeRunner(
      options({shellHook("once", "echo x >> " + counter + "; touch " + started + "; while [ ! -e " +
                                     go + " ]; do sleep 0.01; done")},
              1));
  runner->start();
  ASSERT_TRUE(waitUntil([&] { return ::access(started.c_str(), F_OK) == 0; }));
  store_->failNextCommits(1);
  testing::writeFile(go, "");
  ASSERT_TRUE(waitUntil([&] { return ledgerState("j1", "once", HookRunState::kSucceeded); }))
      << logs_.text();
  runner->stop();
  EXPECT_EQ(readFile(counter), "x\n");
  EXPECT_NE(logs_.text().find("cannot record a hook run's outcome; will retry"), std::string::npos)
      << logs_.text();
  EXPECT_NE(logs_.text().find("hook run outcome recorded after a store error"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::hooks
