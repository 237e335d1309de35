// SPDX-License-Identifier: Apache-2.0
#include "app/operator_feed.h"

namespace jobwatch::app {

std::int64_t OperatorFeed::secondNow() const {
  return std::chrono::duration_cast<std::chrono::seconds>(clock_.now().time_since_epoch()).count();
}

void OperatorFeed::onPollFinished(const scheduler::PollFinished& poll) {
  const std::int64_t now = secondNow();
  const size_t i = static_cast<size_t>(now % static_cast<std::int64_t>(kSeconds));
  if (second_[i] != now) {
    second_[i] = now;
    count_[i] = 0;
  }
  ++count_[i];
  polled_ = true;
  if (poll.result == api::PollResultKind::kOk) last_success_ = clock_.wallNow();
}

size_t OperatorFeed::requestsLastMinute() const {
  const std::int64_t now = secondNow();
  size_t total = 0;
  for (size_t i = 0; i < kSeconds; ++i) {
    if (now - second_[i] < static_cast<std::int64_t>(kSeconds)) total += count_[i];
  }
  return total;
}

}  // namespace jobwatch::app
