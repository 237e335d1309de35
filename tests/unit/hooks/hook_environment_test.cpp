// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_environment.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace jobwatch::hooks {
namespace {

int spawnWith(const std::vector<std::string>& env);

state::HookRun sampleRun() {
  state::HookRun run;
  run.run_id = 7;
  run.job_id = "b2094b38-e432-44b6-a5d0-67bed07d5de1";
  run.status = "completed";
  run.hook = "notify";
  run.previous_status = "processing";
  run.facts.status_raw = "COMPLETED";
  run.facts.type = "extraction";
  run.facts.pdf_name = "financial report.pdf";
  run.facts.pdf_hash = "sha256:abc123";
  run.facts.error = "";
  run.facts.created_at = "2024-01-15T10:30:00.000Z";
  run.facts.updated_at = "2024-01-15T10:31:00.000Z";
  run.labels = {{"customer", "acme"}, {"Batch_2", "2026-11"}};
  run.body = R"({"id":"x"})";
  return run;
}

TEST(HookEnvironment, ExactlyTheSpecVariablesInOrder) {
  auto env = hookEnvironment(sampleRun(), 3, "/usr/bin:/bin", "C.UTF-8");
  std::vector<std::string> expected{
      "PATH=/usr/bin:/bin",
      "LANG=C.UTF-8",
      "JOBWATCH_EVENT_ID=b2094b38-e432-44b6-a5d0-67bed07d5de1:completed",
      "JOBWATCH_HOOK=notify",
      "JOBWATCH_JOB_ID=b2094b38-e432-44b6-a5d0-67bed07d5de1",
      "JOBWATCH_STATUS=completed",
      "JOBWATCH_PREVIOUS_STATUS=processing",
      "JOBWATCH_STATUS_RAW=COMPLETED",
      "JOBWATCH_JOB_TYPE=extraction",
      "JOBWATCH_PDF_NAME=financial report.pdf",
      "JOBWATCH_PDF_HASH=sha256:abc123",
      "JOBWATCH_ERROR=",
      "JOBWATCH_CREATED_AT=2024-01-15T10:30:00.000Z",
      "JOBWATCH_UPDATED_AT=2024-01-15T10:31:00.000Z",
      "JOBWATCH_ATTEMPT=3",
      "JOBWATCH_ACCOUNT=default",
      "JOBWATCH_LABEL_BATCH_2=2026-11",
      "JOBWATCH_LABEL_CUSTOMER=acme",
  };
  EXPECT_EQ(env, expected);
}

TEST(HookEnvironment, AccountIsTheRunsAndBounded) {
  state::HookRun run = sampleRun();
  run.account = "team-b";
  auto env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_EQ(env[kFixedHookVariables - 1], "JOBWATCH_ACCOUNT=team-b");
  EXPECT_EQ(std::count_if(env.begin(), env.end(),
                          [](const auto& e) { return e.rfind("JOBWATCH_ACCOUNT=", 0) == 0; }),
            1);
  // A name longer than config allows (a hand-edited database): cut to the
  // bound the size invariant counts, never more.
  run.account = std::string(kMaxAccountNameBytes, 'a') + "-and-more";
  env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_EQ(env[kFixedHookVariables - 1],
            "JOBWATCH_ACCOUNT=" + std::string(kMaxAccountNameBytes, 'a'));
  EXPECT_EQ(spawnWith(env), 0);
}

TEST(HookEnvironment, DefaultsForMissingPathAndLang) {
  auto env = hookEnvironment(sampleRun(), 1, "", "");
  EXPECT_EQ(env[0], "PATH=/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(env[1], "LANG=C.UTF-8");
}

TEST(HookEnvironment, StripsNulAndKeepsEmptyValues) {
  state::HookRun run;
  run.job_id = "j1";
  run.status = "failed";
  run.hook = "h";
  run.facts.error = std::string("bad\0thing", 9);
  run.labels = {{"k", std::string("v\0", 2)}};
  auto env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_NE(std::find(env.begin(), env.end(), "JOBWATCH_ERROR=badthing"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "JOBWATCH_LABEL_K=v"), env.end());
  EXPECT_NE(std::find(env.begin(), env.end(), "JOBWATCH_PDF_NAME="), env.end());
  for (const auto& e : env) EXPECT_EQ(e.find('\0'), std::string::npos);
}

TEST(HookEnvironment, LabelKeysDifferingOnlyInCaseYieldOneVariable) {
  state::HookRun run;
  run.labels = {{"env", "lower"}, {"Env", "upper"}};
  auto env = hookEnvironment(run, 1, "/bin", "C");
  size_t count = 0;
  for (const auto& e : env) count += e.rfind("JOBWATCH_LABEL_ENV=", 0) == 0 ? 1 : 0;
  EXPECT_EQ(count, 1u);
  EXPECT_NE(std::find(env.begin(), env.end(), "JOBWATCH_LABEL_ENV=upper"), env.end());
}

// Spawns /bin/sh -c 'exit 7' with exactly `env`; 0 when it ran and exited
// 7, else the posix_spawn error (E2BIG: "Argument list too long").
int spawnWith(const std::vector<std::string>& env) {
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                  const_cast<char*>("exit 7"), nullptr};
  pid_t pid = 0;
  const int err = ::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, envp.data());
  if (err != 0) return err;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return errno;
  return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : -1;
}

std::size_t labelVariables(const std::vector<std::string>& env) {
  return static_cast<std::size_t>(std::count_if(
      env.begin(), env.end(), [](const auto& e) { return e.rfind("JOBWATCH_LABEL_", 0) == 0; }));
}

// Issue 18 #4: a job stored with 2,500 labels of 1 KB (before the parser
// capped labels) made every hook run fail with E2BIG, forever.
TEST(HookEnvironment, LabelsBeyondTheCapsAreLeftOutAndTheHookStillStarts) {
  state::HookRun run = sampleRun();
  run.labels.clear();
  for (int i = 0; i < 2500; ++i) {
    run.labels["label_" + std::to_string(10000 + i)] = std::string(1024, 'x');
  }
  const auto env = hookEnvironment(run, 1, "/usr/bin:/bin", "C.UTF-8");
  // 16 KiB of names and values: 15 labels of 11 + 1024 bytes fit.
  EXPECT_EQ(labelVariables(env), 15u);
  EXPECT_EQ(env[kFixedHookVariables], "JOBWATCH_LABEL_LABEL_10000=" + std::string(1024, 'x'));
  EXPECT_LE(hookEnvironmentBytes(env), kMaxHookEnvironmentBytes);
  EXPECT_EQ(spawnWith(env), 0) << std::strerror(spawnWith(env));
}

TEST(HookEnvironment, AtMostSixtyFourLabels) {
  state::HookRun run = sampleRun();
  run.labels.clear();
  for (int i = 0; i < 100; ++i) run.labels["l" + std::to_string(100 + i)] = "v";
  const auto env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_EQ(labelVariables(env), kMaxLabelsPerJob);
  EXPECT_EQ(env.back(), "JOBWATCH_LABEL_L163=v");  // the first 64 in name order
}

TEST(HookEnvironment, WorstCaseStaysWithinItsBoundAndStarts) {
  state::HookRun run;
  const std::string huge(1024 * 1024, 'h');  // far beyond what the API client accepts
  for (std::string* field :
       {&run.account, &run.job_id, &run.status, &run.hook, &run.previous_status,
        &run.facts.status_raw, &run.facts.type, &run.facts.pdf_name, &run.facts.pdf_hash,
        &run.facts.error, &run.facts.created_at, &run.facts.updated_at}) {
    *field = huge;
  }
  run.with_result = true;
  run.result_error = huge;
  for (int i = 0; i < 2500; ++i) {
    run.labels[std::string(63, 'k') + std::to_string(i % 10)] = std::string(1024, 'v');
    run.labels["k" + std::to_string(i)] = std::string(1024, 'v');
  }
  const auto env = hookEnvironment(run, 1, huge, huge);
  for (std::size_t i = 0; i < kFixedHookVariables; ++i) {
    EXPECT_LE(env[i].size(), kMaxFixedNameLength + 1 + kMaxHookValueBytes) << i;
  }
  EXPECT_EQ(env[4], "JOBWATCH_JOB_ID=" + std::string(kMaxHookValueBytes, 'h'));
  EXPECT_EQ(env[kFixedHookVariables - 1],
            "JOBWATCH_ACCOUNT=" + std::string(kMaxAccountNameBytes, 'h'));
  EXPECT_LE(hookEnvironmentBytes(env), kMaxHookEnvironmentBytes);
  EXPECT_LE(kMaxHookEnvironmentBytes, std::size_t{1024} * 1024);
  EXPECT_EQ(spawnWith(env), 0) << std::strerror(spawnWith(env));
}

TEST(HookEnvironment, WithResultGetsTheFileOrTheErrorAndOthersNeither) {
  state::HookRun run = sampleRun();
  const auto plain = hookEnvironment(run, 1, "/bin", "C");
  for (const auto& entry : plain) EXPECT_EQ(entry.rfind("JOBWATCH_RESULT_", 0), std::string::npos);
  run.with_result = true;
  run.result_file = "/var/lib/jobwatchd/results/job-1.json";
  auto env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_EQ(env.back(), "JOBWATCH_RESULT_FILE=/var/lib/jobwatchd/results/job-1.json");
  EXPECT_EQ(env.size(), plain.size() + 1);
  run.result_file.clear();
  run.result_error = "HTTP 500";
  env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_EQ(env.back(), "JOBWATCH_RESULT_ERROR=HTTP 500");
  run.result_error.clear();
  env = hookEnvironment(run, 1, "/bin", "C");
  EXPECT_EQ(env.back(), "JOBWATCH_RESULT_ERROR=no result") << "never neither";
}

TEST(HookEnvironment, ArgvIsCommandOrExplicitShell) {
  config::HookDefinition direct;
  direct.command = {"/usr/local/bin/notify", "--job", "$JOBWATCH_JOB_ID"};
  EXPECT_EQ(hookArgv(direct), direct.command);

  config::HookDefinition shell;
  shell.shell = "echo \"$JOBWATCH_JOB_ID\" | mail ops";
  EXPECT_EQ(hookArgv(shell),
            (std::vector<std::string>{"/bin/sh", "-c", "echo \"$JOBWATCH_JOB_ID\" | mail ops"}));
}

}  // namespace
}  // namespace jobwatch::hooks
