// SPDX-License-Identifier: Apache-2.0
// The pure parts the supervisor uses: how an exit is reported, and when a
// failed run is retried.
#include "hooks/hook_outcome.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "hooks/retry_policy.h"

namespace jobwatch::hooks {
namespace {

using namespace std::chrono_literals;

ExitInfo exitedWith(int code) { return ExitInfo{true, code, 0}; }
ExitInfo killedBy(int sig) { return ExitInfo{false, 0, sig}; }

TEST(DescribeExitTest, SuccessCarriesNoError) {
  ExitReport r = describeExit(exitedWith(0), std::nullopt, "noise on stderr", 0);
  EXPECT_EQ(r.result, HookResult::kSuccess);
  EXPECT_EQ(r.error, "");
  EXPECT_TRUE(r.details.empty());
}

TEST(DescribeExitTest, FailureNamesTheExitCodeAndTheLastStderrLine) {
  ExitReport r = describeExit(exitedWith(7), std::nullopt, "upstream said no", 12);
  EXPECT_EQ(r.result, HookResult::kFailure);
  EXPECT_EQ(r.error, "exit code 7: upstream said no");
  ASSERT_EQ(r.details.size(), 2u);
  EXPECT_EQ(r.details[0].key, "exit_code");
  EXPECT_EQ(r.details[0].value, "7");
  EXPECT_EQ(r.details[1].key, "output_dropped_bytes");
  EXPECT_EQ(r.details[1].value, "12");
}

TEST(DescribeExitTest, TimeoutWinsOverTheExitAndNamesTheSignal) {
  ExitReport r = describeExit(killedBy(SIGKILL), 1500ms, "", 0);
  EXPECT_EQ(r.result, HookResult::kTimeout);
  EXPECT_EQ(r.error, "timed out after 1.5s (killed by SIGKILL)");
  // A hook that traps SIGTERM and exits 0 still timed out.
  EXPECT_EQ(describeExit(exitedWith(0), 1s, "", 0).result, HookResult::kTimeout);
}

TEST(DescribeExitTest, LastStderrLineIsCutOnAUtf8Boundary) {
  const std::string line = std::string(199, 'a') + "\xc3\xa9" + "tail";  // é straddles byte 200
  ExitReport r = describeExit(exitedWith(1), std::nullopt, line, 0);
  EXPECT_EQ(r.error, "exit code 1: " + std::string(199, 'a'));
}

TEST(RetryPolicyTest, OnePlusRetriesRuns) {
  EXPECT_TRUE(RetryPolicy::mayRetry(1, 2));
  EXPECT_TRUE(RetryPolicy::mayRetry(2, 2));
  EXPECT_FALSE(RetryPolicy::mayRetry(3, 2));
  EXPECT_FALSE(RetryPolicy::mayRetry(1, 0));
  EXPECT_FALSE(RetryPolicy::mayRetry(1, -1));
}

TEST(RetryPolicyTest, BackoffDoublesUpToTheCapWithJitterInItsUpperHalf) {
  RetryPolicy policy(1000ms, 5000ms, 42);
  EXPECT_EQ(policy.nominal(1), 1000ms);
  EXPECT_EQ(policy.nominal(2), 2000ms);
  EXPECT_EQ(policy.nominal(3), 4000ms);
  EXPECT_EQ(policy.nominal(4), 5000ms);
  EXPECT_EQ(policy.nominal(60), 5000ms);  // no overflow
  bool spread = false;
  std::chrono::milliseconds first = policy.backoff(3);
  for (int i = 0; i < 200; ++i) {
    const auto b = policy.backoff(3);
    EXPECT_GE(b, 2000ms);
    EXPECT_LE(b, 4000ms);
    spread |= b != first;
  }
  EXPECT_TRUE(spread) << "no jitter";
  EXPECT_EQ(RetryPolicy(0ms, 0ms, 1).backoff(1), 0ms);
}

}  // namespace
}  // namespace jobwatch::hooks

namespace jobwatch::hooks {
namespace {

TEST(OutputTailTest, KeepsTheLastLinesWithinLinesAndBytes) {
  OutputTail tail(3, 20);
  EXPECT_EQ(tail.text(), "");
  for (const char* line : {"one", "two", "three", "four"}) tail.add(line);
  EXPECT_EQ(tail.text(), "two\nthree\nfour");
  tail.add("0123456789abcdef");  // 17 bytes with its newline: the others must go
  EXPECT_EQ(tail.text(), "0123456789abcdef");
  tail.add(std::string(100, 'x'));  // one line never exceeds the whole budget
  EXPECT_EQ(tail.text(), std::string(19, 'x'));
}

}  // namespace
}  // namespace jobwatch::hooks
