// SPDX-License-Identifier: Apache-2.0
// The hooks section: definitions, their commands and the statuses they run on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "config_test_support.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

// --- hooks --------------------------------------------------------------------

TEST(ConfigHooks, ArgvHook) {
  Config c = valid(R"(hooks:
  definitions:
    - name: notify-done
      on: [Completed, failed]
      types: [extraction]
      command: ["/usr/local/bin/notify-done", "--verbose"]
      timeout: 30s
      retries: 0
    - name: log.it
      on: "*"
      command: [logger, "-t", jobwatchd]
)");
  ASSERT_EQ(c.hooks.definitions.size(), 2u);
  const HookDefinition& h = c.hooks.definitions[0];
  EXPECT_EQ(h.name, "notify-done");
  EXPECT_EQ(h.on, (std::vector<std::string>{"completed", "failed"}));
  EXPECT_EQ(h.types, std::vector<std::string>{"extraction"});
  EXPECT_EQ(h.command, (std::vector<std::string>{"/usr/local/bin/notify-done", "--verbose"}));
  EXPECT_FALSE(h.shell.has_value());
  EXPECT_EQ(h.timeout, 30s);
  EXPECT_EQ(h.retries, 0);
  const HookDefinition& star = c.hooks.definitions[1];
  EXPECT_EQ(star.on, std::vector<std::string>{"*"});
  EXPECT_TRUE(star.types.empty());
  EXPECT_EQ(star.command, (std::vector<std::string>{"logger", "-t", "jobwatchd"}));
  EXPECT_EQ(star.timeout, 60s);
  EXPECT_EQ(star.retries, 3);
}

TEST(ConfigHooks, ShellHookIsAnExplicitOptIn) {
  Config c = valid(
      "hooks:\n  definitions:\n    - name: sh\n      on: [\"*\"]\n"
      "      shell: \"echo $JOBWATCH_JOB_ID >> /tmp/x\"\n");
  ASSERT_EQ(c.hooks.definitions.size(), 1u);
  EXPECT_EQ(c.hooks.definitions[0].shell, "echo $JOBWATCH_JOB_ID >> /tmp/x");
  EXPECT_TRUE(c.hooks.definitions[0].command.empty());
  EXPECT_EQ(c.hooks.definitions[0].on, std::vector<std::string>{"*"});
}

TEST(ConfigHooks, CommandAndShellRules) {
  const std::string head = "hooks:\n  definitions:\n    - name: h\n      on: [completed]\n";
  expectOnlyIssue(head + "      command: [/bin/true]\n      shell: \"true\"\n",
                  "hooks.definitions[0]", 3, "not both");
  expectOnlyIssue(head, "hooks.definitions[0].command", 3, "explicit opt-in");
  expectOnlyIssue(head + "      command: \"/bin/echo hi\"\n", "hooks.definitions[0].command", 5,
                  "shell:");
  expectOnlyIssue(head + "      command: []\n", "hooks.definitions[0].command", 5,
                  "must not be empty");
  expectOnlyIssue(head + "      command:\n        - bin/notify\n",
                  "hooks.definitions[0].command[0]", 6, "absolute path or a bare name");
  expectOnlyIssue(head + "      command: [\"\"]\n", "hooks.definitions[0].command[0]", 5,
                  "must not be empty");
  expectOnlyIssue(head + "      command: [/bin/x, [a]]\n", "hooks.definitions[0].command[1]", 5,
                  "got a list");
  expectOnlyIssue(head + "      shell: \"  \"\n", "hooks.definitions[0].shell", 5,
                  "must not be empty");
}

TEST(ConfigHooks, RequiredFieldsAndNames) {
  expectOnlyIssue("hooks:\n  definitions:\n    - on: [completed]\n      command: [/bin/true]\n",
                  "hooks.definitions[0].name", 3, "needs a `name`");
  expectOnlyIssue("hooks:\n  definitions:\n    - name: x\n      command: [/bin/true]\n",
                  "hooks.definitions[0].on", 3, "needs `on`");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: \"a b\"\n      on: [completed]\n"
      "      command: [/bin/true]\n",
      "hooks.definitions[0].name", 3, "not a valid hook name");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: x\n      on: []\n      command: [/bin/true]\n",
      "hooks.definitions[0].on", 4, "at least one status");
  expectOnlyIssue(
      "hooks:\n  definitions:\n    - name: x\n      on: [\"*\", failed]\n"
      "      command: [/bin/true]\n",
      "hooks.definitions[0].on", 4, "do not combine");
  expectOnlyIssue("hooks:\n  definitions:\n    - just-a-string\n", "hooks.definitions[0]", 3,
                  "expected a hook definition");
}

TEST(ConfigHooks, DuplicateNamesPointAtTheFirst) {
  expectOnlyIssue(R"(hooks:
  definitions:
    - name: a
      on: [completed]
      command: [/bin/true]
    - name: a
      on: [failed]
      command: [/bin/true]
)",
                  "hooks.definitions[1].name", 6, "first defined on line 3");
}

TEST(ConfigHooks, ErrorsInLaterDefinitionsNameIndexAndLine) {
  expectOnlyIssue(R"(hooks:
  definitions:
    - name: a
      on: [completed]
      command: [/bin/true]
    - name: b
      on: [failed]
      command: [/bin/true]
      timeout: 0s
      retries: 100
)",
                  "hooks.definitions[1].timeout", 9, "greater than 0");
  ConfigLoad l = load(
      "hooks:\n  definitions:\n    - name: b\n      on: [failed]\n"
      "      command: [/bin/true]\n      timeout: 5\n      retries: 101\n");
  ASSERT_EQ(l.issues.size(), 2u) << allIssues(l);
  EXPECT_EQ(l.issues[0].key, "hooks.definitions[0].timeout");
  EXPECT_THAT(l.issues[0].message, HasSubstr("add a unit"));
  EXPECT_EQ(l.issues[1].key, "hooks.definitions[0].retries");
  EXPECT_EQ(l.issues[1].line, 7);
  EXPECT_THAT(l.issues[1].message, HasSubstr("between 0 and 100"));
}

TEST(ConfigHooks, UnknownOrAliasedStatusesWarn) {
  ConfigLoad l = load(
      "hooks:\n  definitions:\n    - name: a\n      on:\n        - complted\n"
      "        - succeeded\n        - review\n      command: [/bin/true]\n"
      "poll:\n  extra_terminal_statuses: [review]\n");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  ASSERT_EQ(l.warnings.size(), 2u);
  EXPECT_EQ(l.warnings[0].key, "hooks.definitions[0].on[0]");
  EXPECT_EQ(l.warnings[0].line, 5);
  EXPECT_THAT(l.warnings[0].message, HasSubstr("did you mean `completed`?"));
  EXPECT_EQ(l.warnings[1].key, "hooks.definitions[0].on[1]");
  EXPECT_THAT(l.warnings[1].message, HasSubstr("write `completed`"));
  // Statuses made known by extra_terminal_statuses are fine.
  ConfigLoad quiet = load(
      "hooks:\n  definitions:\n    - name: a\n      on: [cancelled, not_found]\n"
      "      command: [/bin/true]\n");
  EXPECT_TRUE(quiet.warnings.empty());
}

}  // namespace
}  // namespace jobwatch::config
