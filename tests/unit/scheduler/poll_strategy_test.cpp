// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_strategy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "scheduler/duration_model.h"

namespace jobwatch::scheduler {
namespace {

// Constant hazards per type (exponential durations): the integral of
// sqrt(h) over [a0, a1] is sqrt(h) (a1 - a0). Types not listed are unknown.
class FixedHazards final : public HazardModel {
 public:
  explicit FixedHazards(std::map<std::string, double> h) : h_(std::move(h)) {}
  std::optional<double> sqrtHazardIntegral(std::string_view, std::string_view type, JobPhase phase,
                                           double a0, double a1) const override {
    auto it = h_.find(std::string(type));
    if (it == h_.end()) return std::nullopt;
    const double f = phase == JobPhase::kQueued ? 0.25 : 1.0;
    return std::sqrt(it->second * f) * (a1 - a0);
  }

 private:
  std::map<std::string, double> h_;
};

// Steps a budget of `budget` requests/s for `seconds`: at each token the
// due jobs (polled >= interval ago) are offered to pickNext. Returns the
// polls per job.
std::vector<int> simulate(std::vector<std::string> types, const HazardModel& model, double budget,
                          double seconds, double interval, double max_interval) {
  std::vector<double> last(types.size(), 0.0);
  std::vector<int> polls(types.size(), 0);
  for (double now = 1000; now < 1000 + seconds; now += 1 / budget) {
    std::vector<PollCandidate> offered;
    std::vector<size_t> which;
    for (size_t i = 0; i < types.size(); ++i) {
      if (now - last[i] < interval) continue;
      offered.push_back({kDefaultAccount, types[i], JobPhase::kRunning, now, now - last[i]});
      which.push_back(i);
    }
    if (offered.empty()) continue;
    const size_t pick =
        which[pickNext(offered, model, {max_interval, static_cast<double>(types.size()) / budget})];
    last[pick] = now;
    ++polls[pick];
  }
  return polls;
}

TEST(PollStrategy, RatesFollowTheSquareRootOfTheHazard) {
  // Hazards 1 and 4: rates in ratio sqrt(1) : sqrt(4) = 1 : 2.
  FixedHazards model({{"a", 1.0}, {"b", 4.0}});
  auto polls = simulate({"a", "b"}, model, 3.0, 1000, 0, 1e9);
  EXPECT_NEAR(polls[0], 1000, 2);
  EXPECT_NEAR(polls[1], 2000, 2);
}

TEST(PollStrategy, IntervalCapsTheFastestJob) {
  // Hazards 1 and 100 want 1 : 10, but b may not be polled more often than
  // once a second: it gets 1/s, a gets the rest of the budget of 2/s.
  FixedHazards model({{"a", 1.0}, {"b", 100.0}});
  auto polls = simulate({"a", "b"}, model, 2.0, 1000, 1.0, 1e9);
  EXPECT_NEAR(polls[1], 1000, 2);
  EXPECT_NEAR(polls[0], 1000, 2);
}

TEST(PollStrategy, NoJobWaitsLongerThanMaxInterval) {
  // b never finishes (hazard 0) yet is polled every max_interval (10 s);
  // offered alongside a busy job at 1 request/s.
  FixedHazards model({{"a", 1.0}, {"b", 0.0}});
  auto polls = simulate({"a", "b"}, model, 1.0, 1000, 0, 10.0);
  EXPECT_NEAR(polls[1], 100, 2);
  EXPECT_NEAR(polls[0], 900, 2);
}

TEST(PollStrategy, UnknownTypesArePolledInTurnAtTheirFairShare) {
  // Nothing known: round robin, the longest waiting first.
  FixedHazards none({});
  std::vector<PollCandidate> c = {{kDefaultAccount, "x", JobPhase::kRunning, 50, 3},
                                  {kDefaultAccount, "x", JobPhase::kRunning, 10, 9},
                                  {kDefaultAccount, "y", JobPhase::kRunning, 90, 5}};
  EXPECT_EQ(pickNext(c, none, {1e9, 1e9}), 1u);
  auto polls = simulate({"x", "y", "z"}, none, 3.0, 1000, 0, 1e9);
  for (int p : polls) EXPECT_NEAR(p, 1000, 1);
  // Mixed, 20 jobs of each: known weights sqrt(1) and sqrt(4); the unknown
  // jobs earn the known jobs' mean rate, so as a group they get about their
  // fair share (a third of the requests, as if all were polled in turn).
  FixedHazards some({{"a", 1.0}, {"b", 4.0}});
  std::vector<std::string> types;
  for (const char* t : {"a", "b", "new"}) types.insert(types.end(), 20, t);
  polls = simulate(types, some, 30, 200, 0, 1e9);
  int per[3] = {0, 0, 0};
  for (size_t i = 0; i < polls.size(); ++i) per[i / 20] += polls[i];
  EXPECT_NEAR(per[1] / static_cast<double>(per[0]), 2.0, 0.1);
  EXPECT_NEAR(per[2] / 6000.0, 1.0 / 3, 0.05);
  for (size_t i = 40; i < 60; ++i) EXPECT_NEAR(polls[i], per[2] / 20, 2);  // in turn
}

TEST(PollStrategy, QueuedJobsEarnLess) {
  FixedHazards model({{"a", 1.0}});
  std::vector<PollCandidate> c = {{kDefaultAccount, "a", JobPhase::kQueued, 100, 10},
                                  {kDefaultAccount, "a", JobPhase::kRunning, 100, 6}};
  EXPECT_EQ(pickNext(c, model, {1e9, 1e9}), 1u);  // credit 0.5 * 10 = 5 < 6
}

TEST(PollStrategy, AllocationOnHandComputedCases) {
  const std::vector<double> h14 = {1, 4};
  auto r = allocateRates(h14, 3, 0, 10);  // c = 1: 1 and 2
  EXPECT_NEAR(r[0], 1, 1e-9);
  EXPECT_NEAR(r[1], 2, 1e-9);
  const std::vector<double> h1_100 = {1, 100};
  r = allocateRates(h1_100, 2, 0, 1.5);  // b capped at 1.5, a gets 0.5
  EXPECT_NEAR(r[0], 0.5, 1e-9);
  EXPECT_NEAR(r[1], 1.5, 1e-9);
  const std::vector<double> h0_1 = {0, 1};
  r = allocateRates(h0_1, 1, 0.1, 10);  // a at the max_interval floor
  EXPECT_NEAR(r[0], 0.1, 1e-9);
  EXPECT_NEAR(r[1], 0.9, 1e-9);
  const std::vector<double> h3 = {1, 4, 9};
  EXPECT_EQ(allocateRates(h3, 5, 0, 1), (std::vector<double>{1, 1, 1}));  // does not bind
  EXPECT_EQ(allocateRates(h3, 0.2, 0.1, 1), (std::vector<double>{0.1, 0.1, 0.1}));
}

TEST(DurationModel, RobustLogNormalFitIgnoresOutliers) {
  DurationModels models;
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(std::log(600.0), 0.5);
  for (int i = 0; i < 19; ++i) models.learn(kDefaultAccount, "ocr", d(rng));
  EXPECT_FALSE(models.find(kDefaultAccount, "ocr")->known());
  EXPECT_FALSE(models.sqrtHazardIntegral(kDefaultAccount, "ocr", JobPhase::kRunning, 0, 600));
  for (int i = 0; i < 181; ++i) models.learn(kDefaultAccount, "ocr", d(rng));
  for (int i = 0; i < 10; ++i) models.learn(kDefaultAccount, "ocr", 1e6);  // stuck jobs
  const TypeDurations* t = models.find(kDefaultAccount, "ocr");
  ASSERT_TRUE(t->known());
  EXPECT_NEAR(t->mu(), std::log(600.0), 0.12);
  EXPECT_NEAR(t->sigma(), 0.5, 0.1);
  EXPECT_NEAR(t->fittedQuantile(0.5), std::exp(t->mu()), 1e-6);
  EXPECT_GT(t->empiricalQuantile(0.99), 1e5);  // the outliers are in the ring
  // The table integral matches a fine numeric integral of sqrt(h).
  double numeric = 0;
  for (double a = 300; a < 900; a += 0.01) {
    numeric += std::sqrt(logNormalHazard(t->mu(), t->sigma(), a + 0.005)) * 0.01;
  }
  auto g = models.sqrtHazardIntegral(kDefaultAccount, "ocr", JobPhase::kRunning, 300, 900);
  ASSERT_TRUE(g);
  EXPECT_NEAR(*g, numeric, numeric * 0.01);
  auto q = models.sqrtHazardIntegral(kDefaultAccount, "ocr", JobPhase::kQueued, 300, 900);
  EXPECT_NEAR(*q, *g * 0.5, 1e-9);
  // A young job (hazard ~0) earns almost nothing next to one at its median.
  EXPECT_LT(
      *models.sqrtHazardIntegral(kDefaultAccount, "ocr", JobPhase::kRunning, 0, 60),
      0.01 * *models.sqrtHazardIntegral(kDefaultAccount, "ocr", JobPhase::kRunning, 540, 600));
}

TEST(DurationModel, MemorylessDurationsSteerNothing) {
  // Exponential durations: every job's hazard is the same whatever its age,
  // so there is nothing to learn; the fit's spread says so (sigma ~1.2) and
  // the type is polled in turn, as round robin would.
  DurationModels models;
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> memoryless(1.0 / 600);
  for (int i = 0; i < 256; ++i) models.learn(kDefaultAccount, "exp", memoryless(rng));
  const TypeDurations* t = models.find(kDefaultAccount, "exp");
  ASSERT_TRUE(t->known());
  EXPECT_GT(t->sigma(), TypeDurations::kMaxInformativeSigma);
  EXPECT_FALSE(t->informative());
  EXPECT_FALSE(models.sqrtHazardIntegral(kDefaultAccount, "exp", JobPhase::kRunning, 0, 600));
  // A log-normal type with a real spread (0.7) still steers.
  std::lognormal_distribution<double> spread(std::log(600.0), 0.7);
  for (int i = 0; i < 256; ++i) models.learn(kDefaultAccount, "ln", spread(rng));
  EXPECT_TRUE(models.find(kDefaultAccount, "ln")->informative());
  EXPECT_TRUE(models.sqrtHazardIntegral(kDefaultAccount, "ln", JobPhase::kRunning, 0, 600));
}

TEST(DurationModel, EarlyFailuresAreAModeNotOutliers) {
  // 80 completed around 600 s, 20 failed around 150 s: one robust fit would
  // call the failures outliers and expect nothing to finish at 150 s.
  DurationModels models;
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> done(std::log(600.0), 0.2), failed(std::log(150.0), 0.2);
  for (int i = 0; i < 80; ++i) models.learn(kDefaultAccount, "x", done(rng), true);
  for (int i = 0; i < 20; ++i) models.learn(kDefaultAccount, "x", failed(rng), false);
  const TypeDurations* t = models.find(kDefaultAccount, "x");
  EXPECT_NEAR(t->mu(), std::log(600.0), 0.1);
  // At 150 s: about 0.2 * f_failed(150) / (0.8 + 0.2 * 0.5) -- far from 0.
  const double h150 = t->hazard(150);
  const double expected = 0.2 * 0.3989 / (0.2 * 150) / (0.8 + 0.1);
  EXPECT_NEAR(h150, expected, expected * 0.3);
  EXPECT_LT(logNormalHazard(t->mu(), t->sigma(), 150), h150 * 1e-6);
}

TEST(DurationModel, BoundedMemoryAndInput) {
  DurationModels models;
  for (size_t i = 0; i < DurationModels::kMaxTypes + 10; ++i) {
    models.learn(kDefaultAccount, "t" + std::to_string(i), 5);
  }
  EXPECT_EQ(models.find(kDefaultAccount, "t" + std::to_string(DurationModels::kMaxTypes)), nullptr);
  models.learn(kDefaultAccount, "neg", -1);
  models.learn(kDefaultAccount, "nan", std::nan(""));
  EXPECT_EQ(models.find(kDefaultAccount, "neg"), nullptr);
  for (int i = 0; i < 1000; ++i) models.learn("other", "t0", 1 + i);
  EXPECT_EQ(models.find("other", "t0")->samples(), 1000u);
  // The ring holds the last 256: 745..1000 s.
  EXPECT_NEAR(models.find("other", "t0")->empiricalQuantile(0), 745, 1e-6);
}

}  // namespace
}  // namespace jobwatch::scheduler
