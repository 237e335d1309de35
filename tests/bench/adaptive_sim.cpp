// SPDX-License-Identifier: Apache-2.0
// Adaptive polling benchmark: a deterministic simulation (seeded RNG,
// simulated clock) of one account's poll loop under a request budget, with
// the daemon's own strategy code (scheduler/poll_strategy.h, the learned
// DurationModels, the TokenBucket). It mirrors PollEngine's loop: a job is
// due `interval` after its last poll; due jobs wait in a pool; each token
// starts one poll, chosen oldest-due-first (round_robin), by pickNext with
// the learned model (adaptive), or by pickNext with the true distributions
// (oracle: the sqrt-hazard allocation with the true hazards, the bound).
//
//   adaptive_sim [--jobs N] [--seed S] [--smoke] [--real-trace] [--csv FILE]
//
// --real-trace: only the trace of adaptive_real.py (the run against the real
// binary) at 10x its time scale, at a 25 % budget: its prediction.
//
// Prints, per trace and budget (fraction of what polling every job each
// interval needs), mean and p95 detection delay (true finish to the poll
// that sees it) and requests spent, for the three side by side; checks the
// targets (README "Adaptive polling"). Exit 0 when every check passes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "scheduler/duration_model.h"
#include "scheduler/poll_strategy.h"
#include "scheduler/poll_timing.h"

namespace {

using namespace jobwatch;
using namespace jobwatch::scheduler;

struct TypeSpec {
  std::string name;
  bool exponential;  // else log-normal
  double median;     // seconds (exponential: the mean)
  double sigma;
};

struct TraceJob {
  size_t type;
  double created;
  double queued_until;  // status `queued` before, `processing` after
  double finish;
  bool fails;
};

struct Trace {
  std::string name;
  std::vector<TypeSpec> types;
  std::vector<TraceJob> jobs;
  double full_budget;  // requests/s to poll every unfinished job each interval
};

constexpr double kInterval = 10;       // poll.interval
constexpr double kMaxInterval = 3600;  // poll.max_interval
constexpr double kFailShare = 0.1;
constexpr double kFailSpeedup = 0.25;

// Hazard of the true mixture: (1-p) LN(mu, s) + p LN(mu + log 1/4, s).
double mixtureHazard(double median, double sigma, double age) {
  auto parts = [&](double m, double& pdf, double& surv) {
    const double z = (std::log(age) - std::log(m)) / sigma;
    pdf = std::exp(-z * z / 2) / (sigma * age * std::sqrt(2 * std::numbers::pi));
    surv = 0.5 * std::erfc(z / std::numbers::sqrt2);
  };
  double f1, s1, f2, s2;
  parts(median, f1, s1);
  parts(median * kFailSpeedup, f2, s2);
  const double surv = (1 - kFailShare) * s1 + kFailShare * s2;
  if (surv < 1e-300) return logNormalHazard(std::log(median), sigma, age);
  return ((1 - kFailShare) * f1 + kFailShare * f2) / surv;
}

Trace makeTrace(std::string name, std::vector<TypeSpec> types, size_t n, std::uint64_t seed,
                double span_per_job = 3.6) {
  Trace t{std::move(name), std::move(types), {}, 0};
  std::mt19937_64 rng(seed);
  const double span = static_cast<double>(n) * span_per_job;  // arrivals over this span
  std::uniform_real_distribution<double> at(0, span);
  std::uniform_int_distribution<size_t> pick(0, t.types.size() - 1);
  std::exponential_distribution<double> queue_wait(1.0 / 10);
  double busy = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t ty = pick(rng);
    const TypeSpec& s = t.types[ty];
    // A failing job (kFailShare) fails early: log-normal around median/4.
    const bool fails = std::bernoulli_distribution(kFailShare)(rng);
    const double median = s.exponential || !fails ? s.median : s.median * kFailSpeedup;
    double d = s.exponential ? std::exponential_distribution<double>(1 / s.median)(rng)
                             : std::lognormal_distribution<double>(std::log(median), s.sigma)(rng);
    d = std::max(d, 0.5);
    const double c = at(rng);
    t.jobs.push_back({ty, c, c + std::min(queue_wait(rng), d / 2), c + d, fails});
    busy += d;
  }
  std::sort(t.jobs.begin(), t.jobs.end(),
            [](const TraceJob& a, const TraceJob& b) { return a.created < b.created; });
  t.full_budget = busy / span / kInterval;  // Little: mean unfinished jobs / interval
  return t;
}

// The true distributions, as the strategy's HazardModel (the bound): the
// integral of sqrt(h) tabulated once per type on a log-age grid.
class OracleModel final : public HazardModel {
 public:
  explicit OracleModel(const std::vector<TypeSpec>& types) : types_(types) {
    for (const auto& s : types_) {
      std::vector<double> g(kPoints, 0);
      auto integrand = [&](double u) {
        const double a = std::exp(u);
        const double h = s.exponential ? 1 / s.median : mixtureHazard(s.median, s.sigma, a);
        return std::sqrt(h) * a;
      };
      g[0] = std::sqrt(s.exponential ? 1 / s.median : mixtureHazard(s.median, s.sigma, 1));
      for (size_t i = 1; i < kPoints; ++i) {
        const double u = kStep * static_cast<double>(i);
        g[i] = g[i - 1] + (integrand(u - kStep) + integrand(u)) / 2 * kStep;
      }
      tables_.push_back(std::move(g));
    }
  }
  std::optional<double> sqrtHazardIntegral(std::string_view, std::string_view type, JobPhase phase,
                                           double a0, double a1) const override {
    for (size_t t = 0; t < types_.size(); ++t) {
      if (types_[t].name != type) continue;
      const double g = cumulative(tables_[t], a1) - cumulative(tables_[t], a0);
      return phase == JobPhase::kQueued ? g * std::sqrt(DurationModels::kQueuedHazardFactor) : g;
    }
    return std::nullopt;
  }

 private:
  static constexpr size_t kPoints = 4096;
  static constexpr double kStep = 15.5 / (kPoints - 1);  // ages 1 s .. 60 days
  static double cumulative(const std::vector<double>& g, double age) {
    if (age <= 1) return g[0] * std::max(0.0, age);
    const double x = std::min(std::log(age) / kStep, static_cast<double>(kPoints - 2));
    const auto i = static_cast<size_t>(x);
    return g[i] + (g[i + 1] - g[i]) * (x - static_cast<double>(i));
  }
  const std::vector<TypeSpec>& types_;
  std::vector<std::vector<double>> tables_;
};

enum class Mode { kRoundRobin, kAdaptive, kOracle };

struct Outcome {
  double mean = 0, p95 = 0;
  long requests = 0;
  double allowed = 0;  // what the budget allowed over the run
};

// One run: the engine's loop against the trace.
Outcome run(const Trace& trace, double budget, Mode mode) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point epoch{};
  auto steady = [&](double s) {
    return epoch + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  TokenBucket bucket(budget, steady(0));
  DurationModels learned;
  OracleModel oracle(trace.types);
  const HazardModel& model =
      mode == Mode::kOracle ? static_cast<const HazardModel&>(oracle) : learned;

  struct Due {
    double at;
    size_t job;
    bool operator>(const Due& o) const { return at > o.at || (at == o.at && job > o.job); }
  };
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
  std::vector<Due> pool;  // due, waiting for a token
  std::vector<double> last(trace.jobs.size(), 0);
  std::vector<double> delays;
  std::vector<PollCandidate> offered;
  std::mt19937_64 rng(99);
  size_t next_arrival = 0;
  Outcome out;
  double now = 0;
  while (delays.size() < trace.jobs.size()) {
    while (next_arrival < trace.jobs.size() && trace.jobs[next_arrival].created <= now) {
      // New jobs are spread over one interval, as the engine does.
      const double spread = std::uniform_real_distribution<double>(0, kInterval)(rng);
      last[next_arrival] = now;
      due.push({now + spread, next_arrival++});
    }
    while (!due.empty() && due.top().at <= now) {
      pool.push_back(due.top());
      due.pop();
    }
    if (!pool.empty() && bucket.tryTake(steady(now))) {
      size_t k = 0;
      if (mode == Mode::kRoundRobin) {
        k = static_cast<size_t>(std::min_element(pool.begin(), pool.end(),
                                                 [](const Due& a, const Due& b) { return b > a; }) -
                                pool.begin());
      } else {
        offered.clear();
        for (const Due& d : pool) {
          const TraceJob& j = trace.jobs[d.job];
          offered.push_back({kDefaultAccount, trace.types[j.type].name,
                             now < j.queued_until ? JobPhase::kQueued : JobPhase::kRunning,
                             now - j.created, now - last[d.job]});
        }
        k = pickNext(offered, model,
                     {kMaxInterval, static_cast<double>(pool.size() + due.size()) / budget});
      }
      const size_t id = pool[k].job;
      pool[k] = pool.back();
      pool.pop_back();
      ++out.requests;
      const TraceJob& j = trace.jobs[id];
      if (j.finish <= now) {
        delays.push_back(now - j.finish);
        learned.learn(kDefaultAccount, trace.types[j.type].name, j.finish - j.created, !j.fails);
      } else {
        last[id] = now;
        due.push({now + kInterval, id});
      }
      continue;  // more tokens may be waiting at this instant
    }
    // Advance to the next event: a token (if jobs wait), a due time, an arrival.
    double next = 1e18;
    if (!pool.empty()) {
      next = std::chrono::duration<double>(bucket.nextTokenAt(steady(now)) - epoch).count();
    }
    if (!due.empty()) next = std::min(next, due.top().at);
    if (next_arrival < trace.jobs.size()) next = std::min(next, trace.jobs[next_arrival].created);
    now = std::max(now, next);
  }
  out.allowed = std::max(1.0, budget) + budget * now;
  std::sort(delays.begin(), delays.end());
  double sum = 0;
  for (double d : delays) sum += d;
  out.mean = sum / static_cast<double>(delays.size());
  out.p95 = delays[static_cast<size_t>(0.95 * static_cast<double>(delays.size() - 1))];
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  size_t jobs = 3000;
  std::uint64_t seed = 14;
  bool smoke = false;
  bool real_trace = false;
  bool jobs_set = false;
  std::string csv;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--jobs" && i + 1 < argc) {
      jobs = std::stoul(argv[++i]);
      jobs_set = true;
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::stoull(argv[++i]);
    } else if (a == "--csv" && i + 1 < argc) {
      csv = argv[++i];
    } else if (a == "--real-trace") {
      real_trace = true;
    } else if (a == "--smoke") {
      smoke = true;
      jobs = 300;
    } else {
      std::fprintf(stderr,
                   "usage: adaptive_sim [--jobs N] [--seed S] [--smoke] [--real-trace] "
                   "[--csv FILE]\n");
      return 2;
    }
  }
  std::vector<Trace> traces = {
      makeTrace("lognormal",
                {{"classify", false, 60, 0.3},
                 {"ocr", false, 180, 0.4},
                 {"extraction", false, 600, 0.5},
                 {"batch", false, 2400, 0.7}},
                jobs, seed),
      // Same types, half the spread: more to learn (README: what would
      // reach the 25 % target).
      makeTrace("lognormal-narrow",
                {{"classify", false, 60, 0.15},
                 {"ocr", false, 180, 0.2},
                 {"extraction", false, 600, 0.25},
                 {"batch", false, 2400, 0.35}},
                jobs, seed),
      makeTrace(
          "exponential",
          {{"a", true, 600, 0}, {"b", true, 600, 0}, {"c", true, 600, 0}, {"d", true, 600, 0}},
          jobs, seed + 1),
  };
  if (real_trace) {
    // adaptive_real.py's trace (interval 1 s, 1,000 jobs over 120 s) at 10x:
    // the same shape; its delays are 10x the real run's.
    traces = {makeTrace(
        "real-run-x10",
        {{"classify", false, 40, 0.3}, {"ocr", false, 120, 0.4}, {"extraction", false, 300, 0.5}},
        jobs_set ? jobs : 1000, seed, 1.2)};
  }
  const std::vector<double> shares =
      smoke || real_trace ? std::vector<double>{0.25}
                          : std::vector<double>{0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0};
  std::ofstream out_csv;
  if (!csv.empty()) {
    out_csv.open(csv);
    out_csv << "trace,budget_share,strategy,mean,p95,requests,allowed\n";
  }
  bool ok = true;
  const char* names[] = {"round_robin", "adaptive", "oracle"};
  for (const Trace& t : traces) {
    std::printf("trace %s: %zu jobs, %.0f%% failing early, full budget %.2f req/s\n",
                t.name.c_str(), t.jobs.size(), kFailShare * 100, t.full_budget);
    std::printf("%7s | %-26s | %-26s | %-26s\n", "budget", "round_robin mean/p95/req",
                "adaptive mean/p95/req", "oracle mean/p95/req");
    for (double share : shares) {
      Outcome o[3];
      for (int m = 0; m < 3; ++m) {
        o[m] = run(t, share * t.full_budget, static_cast<Mode>(m));
        if (o[m].requests > o[m].allowed) {
          std::printf("FAIL: %s spent %ld requests, budget allowed %.0f\n", names[m], o[m].requests,
                      o[m].allowed);
          ok = false;
        }
        if (out_csv.is_open()) {
          out_csv << t.name << ',' << share << ',' << names[m] << ',' << o[m].mean << ','
                  << o[m].p95 << ',' << o[m].requests << ',' << o[m].allowed << '\n';
        }
      }
      std::printf("%6.0f%% | %7.1fs %7.1fs %8ld | %7.1fs %7.1fs %8ld | %7.1fs %7.1fs %8ld\n",
                  share * 100, o[0].mean, o[0].p95, o[0].requests, o[1].mean, o[1].p95,
                  o[1].requests, o[2].mean, o[2].p95, o[2].requests);
      if (smoke || real_trace || share != 0.25) continue;
      const bool lognormal = t.name != "exponential";
      const bool met = lognormal ? o[1].mean <= 0.5 * o[0].mean && o[1].p95 <= 0.8 * o[0].p95
                                 : o[1].mean <= 1.05 * o[0].mean;
      std::printf("  target at 25%%: %s (adaptive/round_robin: mean %.2f, p95 %.2f)\n",
                  met ? "met" : "MISSED", o[1].mean / o[0].mean, o[1].p95 / o[0].p95);
      // The narrow trace is there to show what reaching the target takes.
      if (t.name != "lognormal-narrow") ok = ok && met;
    }
  }
  return ok ? 0 : 1;
}
