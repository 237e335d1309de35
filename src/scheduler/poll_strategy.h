// SPDX-License-Identifier: Apache-2.0
// The poll strategy's decision, as pure functions (no clock, no threads):
// which due job gets the next request while the request budget binds
// (SPEC "Polling strategy"). The engine asks pickNext() each time it may
// start a request; with budget to spare every due job is started at once
// anyway, so the choice only matters while the budget binds.
//
// Why sqrt(hazard) (Keller 1974, "Optimum checking schedules for systems
// subject to random failure"): a job that finishes at rate h_i (its hazard
// given age and status) and is polled at rate r_i waits on average half a
// gap, 1/(2 r_i), before we see it. Per unit of time the expected detection
// delay accrued is D = sum_i h_i / (2 r_i), and the budget is
// sum_i r_i = B. With a multiplier L: dD/dr_i + L = -h_i/(2 r_i^2) + L = 0,
// so r_i = sqrt(h_i / (2 L)), i.e. r_i proportional to sqrt(h_i), with L
// set by the budget (D is convex in r, so this is the minimum). Polling in
// proportion to h itself (the "most likely finished" greedy rule)
// over-serves jobs about to finish and starves the long tail; polling
// every job equally (round robin) ignores what we know.
//
// pickNext() realises those rates online, like stride scheduling: each
// due job has earned credit integral of sqrt(h(age)) over the time since
// its last poll; the job with the most credit goes next. In a steady state
// every job is polled when its credit reaches a common level c, so its gap
// is c / sqrt(h) and its rate is proportional to sqrt(h); the level c
// adjusts itself to the budget. Clamps: the caller only offers jobs due
// (polled at least `interval` ago: never faster than interval), and a job
// waiting max_interval or more goes before any other (oldest first), so
// no job waits longer (nor past the vendor's 7-day deletion, since
// max_interval < 7 days). Jobs whose type has too little history (the
// model says nothing) earn credit at the mean rate of the known jobs
// offered: so as a group they get their fair share (as under round robin),
// and among themselves they are polled in turn (oldest poll first).
// allocateRates() is the same optimum stated as rates (for tests, the
// benchmark's bound and documentation).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "scheduler/duration_model.h"

namespace jobwatch::scheduler {

enum class PollStrategy { kRoundRobin, kAdaptive };

// A job that is due, as the strategy sees it. Times in seconds.
struct PollCandidate {
  std::string_view account = kDefaultAccount;
  std::string_view type;
  JobPhase phase = JobPhase::kRunning;
  double age = 0;         // now - created_at
  double since_poll = 0;  // now - last poll started (or since watched)
};

struct PickLimits {
  double max_interval = 3600;  // seconds: a job waiting this long goes first
  // Seconds between two polls of a job under round robin (jobs / budget):
  // a job of an unknown type waiting this long is owed its turn.
  double fair_gap = 0;
};

// Index of the candidate to poll next (candidates must not be empty).
size_t pickNext(std::span<const PollCandidate> candidates, const HazardModel& model,
                const PickLimits& limits);

// The optimal rates (requests/s) for jobs with these hazards under a
// budget of `budget` requests/s: r_i = clamp(c sqrt(h_i), min_rate,
// max_rate) with c such that sum r_i = budget. When the budget does not
// bind (n * max_rate <= budget) every job gets max_rate; when even
// min_rate for all exceeds it, every job gets min_rate (max_interval wins).
std::vector<double> allocateRates(std::span<const double> hazards, double budget, double min_rate,
                                  double max_rate);

}  // namespace jobwatch::scheduler
