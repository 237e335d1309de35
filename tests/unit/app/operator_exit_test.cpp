// SPDX-License-Identifier: Apache-2.0
// Exit codes of the operator commands: 3 only when the daemon is not
// running (nothing answers on its socket); a running daemon that cannot
// serve a request, or an answer that fails, is 1 and says the daemon runs.
// And `COMMAND --help` is help, not a usage error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "app/command_line.h"
#include "app/control_client.h"
#include "app/control_handler.h"
#include "support/temp_dir.h"

namespace jobwatch::app {
namespace {

using ::testing::HasSubstr;
using testing_support::TempDir;
using namespace std::chrono_literals;

TEST(ControlExit, AFailureOfTheRunningDaemonIsExitOneAndSaysItRuns) {
  const ControlResponse busy = failureResponse(
      Error{"the scheduler did not answer within 2 s (busy or stuck)", ErrorKind::kRuntime});
  EXPECT_FALSE(busy.ok);
  EXPECT_EQ(busy.exit_code, kExitBadInput);
  EXPECT_THAT(busy.error, HasSubstr("the daemon is running, but the scheduler did not answer"));
  const ControlResponse bad = failureResponse(Error{"no such thing", ErrorKind::kBadInput});
  EXPECT_EQ(bad.exit_code, kExitBadInput);
  EXPECT_EQ(bad.error, "no such thing");
}

ControlRequest statusRequest() {
  ControlRequest req;
  req.cmd = ControlCommand::kStatus;
  return req;
}

TEST(ControlExit, NothingOnTheSocketIsNotRunningExitThree) {
  TempDir dir;
  const DaemonCall call = callDaemon(dir.path() / "control.sock", statusRequest(), 1s);
  EXPECT_TRUE(call.not_running);
  EXPECT_FALSE(call.response.ok());
  EXPECT_EQ(exitCodeForFailedCall(call), kExitRuntime);
}

// A listening socket that never accepts: the kernel takes the connection
// into its backlog, so the daemon "runs" but does not answer.
TEST(ControlExit, ARunningDaemonThatDoesNotAnswerIsExitOne) {
  TempDir dir;
  const auto path = dir.path() / "control.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  const DaemonCall call = callDaemon(path, statusRequest(), 100ms);
  ::close(fd);
  EXPECT_FALSE(call.not_running);
  EXPECT_TRUE(call.connected);
  ASSERT_FALSE(call.response.ok());
  EXPECT_THAT(call.response.error().message, HasSubstr("the daemon is running, but"));
  EXPECT_EQ(exitCodeForFailedCall(call), kExitBadInput);
}

TEST(CommandLine, HelpAfterACommandIsHelp) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"status", "--help"},
                                               {"add", "--help"},
                                               {"show", "-h"},
                                               {"jobs", "--json", "--status", "failed", "--help"},
                                               {"retry", "--help"}}) {
    const Command cmd = parseCommandLine(args);
    EXPECT_EQ(cmd.mode, Mode::kHelp) << args[0];
    EXPECT_EQ(cmd.usage_error, "") << args[0];
  }
  EXPECT_NE(parseCommandLine({"--once", "--help"}).usage_error, "");  // still exclusive
  EXPECT_THAT(usageText(), HasSubstr("control.group"));
  EXPECT_THAT(usageText(), HasSubstr("GET / on metrics.listen"));
}

}  // namespace
}  // namespace jobwatch::app
