// SPDX-License-Identifier: Apache-2.0
#include "scheduler/account_budget.h"

#include <algorithm>

namespace jobwatch::scheduler {

namespace {

// Windows holding more requests than this are not counted (memory): at
// such rates a second's burst is a small share of the window anyway.
constexpr size_t kMaxWindowLimit = 100000;

}  // namespace

AccountBudget::AccountBudget(double rate_per_second, SteadyTime now, Millis window)
    : bucket_(rate_per_second, now) {
  setRate(rate_per_second, now, window);
}

bool AccountBudget::windowFull(SteadyTime now, SteadyTime& wake) {
  if (window_limit_ == 0) return false;
  while (!answered_.empty() && answered_.front() + window_span_ <= now) answered_.pop_front();
  if (in_flight_ + answered_.size() < window_limit_) return false;
  // All in flight: an answer wakes the engine; else the oldest leaves.
  wake = std::min(wake, answered_.empty() ? now + window_span_ : answered_.front() + window_span_);
  return true;
}

void AccountBudget::finished(SteadyTime now) {
  if (!counting_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(mu_);
  if (window_limit_ == 0) return;
  if (in_flight_ > 0) --in_flight_;
  // Engines' clocks are read on their own threads: keep the order.
  answered_.push_back(answered_.empty() ? now : std::max(now, answered_.back()));
}

void AccountBudget::giveBack() {
  std::lock_guard lock(mu_);
  bucket_.giveBack();
  if (window_limit_ > 0 && in_flight_ > 0) --in_flight_;
}

bool AccountBudget::tryTake(SteadyTime now, SteadyTime& wake) {
  std::lock_guard lock(mu_);
  if (now >= may_poll_until_) {
    wake = std::min(wake, now + kLeaseRecheck);
    return false;
  }
  if (now < paused_until_) {
    wake = std::min(wake, paused_until_);
    return false;
  }
  if (windowFull(now, wake)) return false;
  if (!bucket_.tryTake(now)) {
    wake = std::min(wake, bucket_.nextTokenAt(now));
    return false;
  }
  if (window_limit_ > 0) ++in_flight_;
  return true;
}

bool AccountBudget::available(SteadyTime now) const {
  std::lock_guard lock(mu_);
  if (now >= may_poll_until_ || now < paused_until_ || bucket_.nextTokenAt(now) > now) {
    return false;
  }
  if (window_limit_ == 0 || in_flight_ + answered_.size() < window_limit_) return true;
  // Full unless its oldest request has left the window by now.
  return !answered_.empty() && answered_.front() + window_span_ <= now;
}

void AccountBudget::setRate(double rate_per_second, SteadyTime now, Millis window) {
  std::lock_guard lock(mu_);
  rate_ = rate_per_second;
  window_ = window;
  applyRate(now);
}

void AccountBudget::setFleetTerms(double share, SteadyTime may_poll_until, SteadyTime now) {
  std::lock_guard lock(mu_);
  may_poll_until_ = may_poll_until;
  share = std::clamp(share, 1e-6, 1.0);
  if (share == share_) return;
  share_ = share;
  applyRate(now);
}

void AccountBudget::applyRate(SteadyTime now) {
  const double rate_per_second = rate_ * share_;
  const Millis window = window_;
  bucket_.setRate(rate_per_second, now);
  const double per_window = rate_per_second * std::chrono::duration<double>(window).count() + 1e-9;
  if (rate_per_second <= 0 || window <= Millis{0} || per_window > kMaxWindowLimit) {
    window_limit_ = 0;
    counting_ = false;
    in_flight_ = 0;
    answered_.clear();
    return;
  }
  window_limit_ = std::max<size_t>(1, static_cast<size_t>(per_window));
  counting_ = true;
  window_span_ = window + std::min<Millis>(window / 100, Millis{250});
  while (answered_.size() > window_limit_) answered_.pop_front();
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
