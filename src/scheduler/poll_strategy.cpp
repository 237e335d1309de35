// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_strategy.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>

namespace jobwatch::scheduler {

namespace {

// The longest waiting of the candidates `owed` says are owed a poll now.
std::optional<size_t> longestWaiting(std::span<const PollCandidate> candidates,
                                     const std::function<bool(size_t)>& owed) {
  std::optional<size_t> best;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (owed(i) && (!best || candidates[i].since_poll > candidates[*best].since_poll)) best = i;
  }
  return best;
}

}  // namespace

size_t pickNext(std::span<const PollCandidate> candidates, const HazardModel& model,
                const PickLimits& limits) {
  // Credit earned since the last poll (nullopt: unknown type).
  std::vector<std::optional<double>> credit(candidates.size());
  double known_credit = 0, known_time = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const PollCandidate& c = candidates[i];
    const double since = std::max(0.0, c.since_poll);
    credit[i] = model.sqrtHazardIntegral(c.account, c.type, c.phase, std::max(0.0, c.age - since),
                                         std::max(0.0, c.age));
    if (credit[i]) {
      known_credit += *credit[i];
      known_time += since;
    }
  }
  // Owed first: anyone waiting max_interval, then an unknown-type job
  // waiting its round-robin turn (fair_gap); the longest waiting first.
  if (auto i = longestWaiting(
          candidates, [&](size_t k) { return candidates[k].since_poll >= limits.max_interval; }))
    return *i;
  if (auto i = longestWaiting(candidates, [&](size_t k) {
        return !credit[k] && candidates[k].since_poll >= limits.fair_gap;
      }))
    return *i;

  // Then the most credit; unknown types earn at the known jobs' mean rate.
  const double unknown_rate = known_time > 0 ? known_credit / known_time : 1.0;
  size_t best = 0;
  double best_value = -1, best_rate = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const double since = std::max(0.0, candidates[i].since_poll);
    const double value = credit[i] ? *credit[i] : since * unknown_rate;
    const double rate = since > 0 ? value / since : 0;
    // Equal credit (within rounding): the one that earned it faster goes
    // first, else a low-rate job that just caught up would cut in on every
    // turn of a high-rate one; equal rates too (say none): the longest
    // waiting, i.e. round robin.
    const double tie = 1e-9 * std::max(1e-300, best_value);
    const bool better = value > best_value + tie ||
                        (value >= best_value - tie &&
                         (rate > best_rate * (1 + 1e-9) ||
                          (rate >= best_rate * (1 - 1e-9) && since > candidates[best].since_poll)));
    if (better) {
      best = i;
      best_value = value;
      best_rate = rate;
    }
  }
  return best;
}

std::vector<double> allocateRates(std::span<const double> hazards, double budget, double min_rate,
                                  double max_rate) {
  const auto n = static_cast<double>(hazards.size());
  if (n * max_rate <= budget) return std::vector<double>(hazards.size(), max_rate);
  if (n * min_rate >= budget) return std::vector<double>(hazards.size(), min_rate);
  auto rates = [&](double c) {
    std::vector<double> r(hazards.size());
    for (size_t i = 0; i < r.size(); ++i) {
      r[i] = std::clamp(c * std::sqrt(std::max(0.0, hazards[i])), min_rate, max_rate);
    }
    return r;
  };
  auto total = [&](double c) {
    double sum = 0;
    for (double r : rates(c)) sum += r;
    return sum;
  };
  // total(c) is continuous and non-decreasing: bisection on log c.
  double lo = -60, hi = 60;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    if (total(std::exp(mid)) < budget) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return rates(std::exp((lo + hi) / 2));
}

}  // namespace jobwatch::scheduler
