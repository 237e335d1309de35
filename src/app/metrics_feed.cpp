// SPDX-License-Identifier: Apache-2.0
#include "app/metrics_feed.h"

#include <array>

#include "api/poll_result.h"

namespace jobwatch::app {

using api::PollResultKind;
using hooks::HookResult;

std::vector<std::string> pollResultLabels() {
  constexpr std::array kinds = {
      PollResultKind::kOk,           PollResultKind::kHttpError,  PollResultKind::kTimeout,
      PollResultKind::kNetworkError, PollResultKind::kParseError, PollResultKind::kAuthError,
      PollResultKind::kRateLimited,  PollResultKind::kNotFound,
  };
  std::vector<std::string> labels;
  labels.reserve(kinds.size());
  for (PollResultKind kind : kinds) labels.emplace_back(api::resultLabel(kind));
  return labels;
}

std::vector<std::string> hookResultLabels() {
  constexpr std::array results = {HookResult::kSuccess, HookResult::kFailure, HookResult::kTimeout,
                                  HookResult::kSpawnError};
  std::vector<std::string> labels;
  labels.reserve(results.size());
  for (HookResult result : results) labels.emplace_back(hooks::hookResultLabel(result));
  return labels;
}

void MetricsFeed::onPollFinished(const scheduler::PollFinished& poll) {
  metrics_.pollFinished(account_, {api::resultLabel(poll.result), api::apiAnswered(poll.result),
                                   poll.result == PollResultKind::kOk, poll.elapsed});
}

void MetricsFeed::onTransition(const scheduler::StatusTransition& transition) {
  metrics_.statusChanged(transition.job, transition.from);
  if (transition.job.overdue && transition.job.terminal) addOverdue(-1);
}

void MetricsFeed::onHookFinished(const std::string& hook, HookResult result,
                                 std::chrono::duration<double> duration) {
  metrics_.hookFinished(hook, hooks::hookResultLabel(result), duration);
}

void MetricsFeed::onPendingChanged(size_t pending) {
  pending_ = pending;
  metrics_.hooksPending(pending);
}

}  // namespace jobwatch::app
