#include "hooks/hook_environment.h"

#include <gtest/gtest.h>

namespace jobwatch::hooks {
namespace {

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
      "JOBWATCH_LABEL_BATCH_2=2026-11",
      "JOBWATCH_LABEL_CUSTOMER=acme",
  };
  EXPECT_EQ(env, expected);
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
