// SPDX-License-Identifier: Apache-2.0
#include "scheduler/account_budget.h"

#include <algorithm>

namespace jobwatch::scheduler {

bool AccountBudget::tryTake(SteadyTime now, SteadyTime& wake) {
  std::lock_guard lock(mu_);
  if (now < paused_until_) {
    wake = std::min(wake, paused_until_);
    return false;
  }
  if (!bucket_.tryTake(now)) {
    wake = std::min(wake, bucket_.nextTokenAt(now));
    return false;
  }
  return true;
}

bool AccountBudget::available(SteadyTime now) const {
  std::lock_guard lock(mu_);
  return now >= paused_until_ && bucket_.nextTokenAt(now) <= now;
}

void AccountBudget::setRate(double rate_per_second, SteadyTime now) {
  std::lock_guard lock(mu_);
  bucket_.setRate(rate_per_second, now);
}

bool AccountBudget::pauseUntil(SteadyTime until, SteadyTime now) {
  std::lock_guard lock(mu_);
  const bool began = now >= paused_until_;
  paused_until_ = std::max(paused_until_, until);
  return began && until > now;
}

SteadyTime AccountBudget::pausedUntil() const {
  std::lock_guard lock(mu_);
  return paused_until_;
}

}  // namespace jobwatch::scheduler
