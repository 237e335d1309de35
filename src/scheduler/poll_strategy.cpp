// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_strategy.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace jobwatch::scheduler {

size_t pickNext(std::span<const PollCandidate> candidates, const HazardModel& model,
                double max_interval) {
  // A job waiting max_interval or longer first, the longest waiting first.
  size_t best = 0;
  bool forced = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (candidates[i].since_poll >= max_interval &&
        (!forced || candidates[i].since_poll > candidates[best].since_poll)) {
      best = i;
      forced = true;
    }
  }
  if (forced) return best;

  // Credit earned since the last poll; unknown types at the known mean rate.
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
  const double unknown_rate = known_time > 0 ? known_credit / known_time : 1.0;
  double best_credit = -1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const double since = std::max(0.0, candidates[i].since_poll);
    const double value = credit[i] ? *credit[i] : since * unknown_rate;
    // Equal credit (within rounding): the one that earned it faster, i.e.
    // the higher rate, goes first; otherwise a low-rate job that just
    // caught up would cut in on every turn of a high-rate one. (With equal
    // rates equal credit means equal waits: any order is round robin.)
    const double tie = 1e-9 * std::max(1.0, best_credit);
    if (value > best_credit + tie ||
        (value > best_credit - tie && candidates[i].since_poll < candidates[best].since_poll)) {
      best = i;
      best_credit = value;
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
