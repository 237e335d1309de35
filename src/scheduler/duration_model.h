// SPDX-License-Identifier: Apache-2.0
// DurationModels: how long jobs take, per (account, job type), learned from
// finished jobs (created_at to the terminal time), for the adaptive poll
// strategy (poll_strategy.h) and the overdue check.
//
// Each type keeps the log of its last kReservoir durations in a ring
// (bounded memory: ~2 KiB per type, at most kMaxTypes types per account;
// newer jobs replace older ones, so a type whose speed drifts follows),
// each marked completed or not (failed, cancelled...): failures often come
// early and form a mode of their own, which a single robust fit would
// discard as outliers. Per outcome it fits a log-normal robustly:
// mu = median(log d), sigma = 1.4826 * MAD(log d) (a few stuck or instant
// jobs move neither); the type's duration is the mixture of the two,
// weighted by their share of the ring (an outcome with fewer than
// kMinComponent samples joins the other). It then tabulates the cumulative square-root hazard G(a)
// = integral_0^a sqrt(h(s)) ds on a log-spaced age grid, so a poll decision costs two table
// look-ups per job. Types with fewer than kMinSamples finished jobs, or
// whose durations spread too widely to tell jobs apart
// (kMaxInformativeSigma), are "unknown": the strategy polls them in turn.
//
// Status: a `queued` job has not started; its hazard of finishing is taken
// as kQueuedHazardFactor times that of a running job of the same age (it
// must still be processed, so it rarely finishes next). Any other
// non-terminal status uses the full hazard.
//
// Thread-safety: none; owned and used by the scheduler thread (or a test).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/account_name.h"  // kDefaultAccount

namespace jobwatch::scheduler {

enum class JobPhase { kQueued, kRunning };

// What the strategy asks of a model; tests substitute fixed hazards.
class HazardModel {
 public:
  virtual ~HazardModel() = default;
  // integral of sqrt(hazard) over ages [age0, age1] (seconds) for a job of
  // this account/type in this phase; nullopt while the type is unknown.
  virtual std::optional<double> sqrtHazardIntegral(std::string_view account, std::string_view type,
                                                   JobPhase phase, double age0,
                                                   double age1) const = 0;
};

// One type's learned durations.
class TypeDurations {
 public:
  static constexpr size_t kReservoir = 256;
  static constexpr size_t kMinSamples = 20;

  static constexpr size_t kMinComponent = 5;
  // Durations spread wider than this (sigma of log d) tell little about
  // which job finishes next: exponential durations, the memoryless case
  // where every job's hazard is the same, fit sigma ~1.2 (log-normal traces
  // of real job types: 0.3-0.7). The strategy polls such a type in turn,
  // as round robin would: the optimal allocation itself gains ~2 % there,
  // while a log-normal fitted to memoryless data gains nothing and spreads
  // the p95 (tests/bench/adaptive_sim: p95 1.10x round robin's before).
  static constexpr double kMaxInformativeSigma = 1.0;

  void add(double seconds, bool completed = true);
  size_t samples() const { return total_; }
  bool known() const { return total_ >= kMinSamples; }
  // Known, and narrow enough to steer polling (kMaxInformativeSigma).
  bool informative() const { return known() && sigma_ <= kMaxInformativeSigma; }
  // The robust log-normal fit of the main outcome (valid once known()).
  double mu() const { return mu_; }
  double sigma() const { return sigma_; }
  // The hazard of the fitted mixture at `age` seconds.
  double hazard(double age) const;
  // Empirical quantile q in [0,1] of the durations in the ring (seconds).
  double empiricalQuantile(double q) const;
  // The fitted log-normal's quantile q (seconds).
  double fittedQuantile(double q) const;
  // G(age1) - G(age0), see above (running phase).
  double sqrtHazardIntegral(double age0, double age1) const;

 private:
  void refit();
  double cumulative(double age) const;

  struct Component {
    double weight = 0, mu = 0, sigma = 1;
  };
  std::vector<double> logs_;     // ring of log(seconds)
  std::vector<bool> completed_;  // beside logs_
  size_t next_ = 0;
  size_t total_ = 0;
  double mu_ = 0;
  double sigma_ = 1;
  std::array<Component, 2> parts_{};  // main outcome, other outcome (weight 0: none)
  std::vector<double> table_;         // G at kGridPoints log-spaced ages
};

class DurationModels final : public HazardModel {
 public:
  static constexpr size_t kMaxTypes = 256;
  static constexpr size_t kMaxTypeLength = 128;
  static constexpr double kQueuedHazardFactor = 0.25;

  // A finished job of this account/type took `seconds` (ignored unless > 0
  // and finite; a new type beyond kMaxTypes per account is not learned);
  // `completed` false: it ended otherwise (failed, cancelled...).
  void learn(std::string_view account, std::string_view type, double seconds,
             bool completed = true);
  const TypeDurations* find(std::string_view account, std::string_view type) const;

  std::optional<double> sqrtHazardIntegral(std::string_view account, std::string_view type,
                                           JobPhase phase, double age0, double age1) const override;

 private:
  using Types = std::map<std::string, TypeDurations, std::less<>>;
  std::map<std::string, Types, std::less<>> accounts_;
  // The last look-up, remembered: candidates come in runs of one type.
  mutable std::string_view last_account_, last_type_;
  mutable const TypeDurations* last_found_ = nullptr;
};

// An API timestamp (RFC 3339: 2026-11-29T07:33:05Z, optional fraction,
// Z or +hh:mm / -hh:mm; no zone: UTC) as seconds since the epoch; nullopt
// when it is not one. Untrusted input: never throws.
std::optional<double> apiTimeSeconds(std::string_view text);

// The log-normal's hazard rate at `age` seconds (pure; exposed for tests
// and the benchmark's oracle).
double logNormalHazard(double mu, double sigma, double age);

}  // namespace jobwatch::scheduler
