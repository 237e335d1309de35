// SPDX-License-Identifier: Apache-2.0
#include "scheduler/duration_model.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace jobwatch::scheduler {

namespace {

// The G table: ages from 1 s to 60 days, log-spaced.
constexpr double kGridMinLog = 0.0;    // log(1 s)
constexpr double kGridMaxLog = 15.46;  // log(60 days)
constexpr size_t kGridPoints = 512;
constexpr double kGridStep = (kGridMaxLog - kGridMinLog) / (kGridPoints - 1);
constexpr double kMinSigma = 0.05;  // all samples equal: a narrow peak, not a spike
constexpr double kMadToSigma = 1.4826;

double median(std::vector<double> v) {
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  double m = v[mid];
  if (v.size() % 2 == 0) {
    m = (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid))) / 2;
  }
  return m;
}

// Acklam-free inverse normal CDF by bisection on erfc: only used for the
// few quantiles the overdue check and the tests ask for.
double normalQuantile(double q) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    if (0.5 * std::erfc(-mid / std::numbers::sqrt2) < q) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return (lo + hi) / 2;
}

}  // namespace

double logNormalHazard(double mu, double sigma, double age) {
  if (!(age > 0)) return 0;
  const double z = (std::log(age) - mu) / sigma;
  if (z > 8) return (z + 1 / z) / (sigma * age);  // Mills ratio: the survival underflows
  const double pdf = std::exp(-z * z / 2) / (sigma * age * std::sqrt(2 * std::numbers::pi));
  const double survival = 0.5 * std::erfc(z / std::numbers::sqrt2);
  return pdf / survival;
}

void TypeDurations::add(double seconds) {
  const double l = std::log(seconds);
  if (logs_.size() < kReservoir) {
    logs_.push_back(l);
  } else {
    logs_[next_] = l;
    next_ = (next_ + 1) % kReservoir;
  }
  ++total_;
  if (known()) refit();
}

void TypeDurations::refit() {
  mu_ = median(logs_);
  std::vector<double> dev(logs_.size());
  std::transform(logs_.begin(), logs_.end(), dev.begin(),
                 [&](double l) { return std::abs(l - mu_); });
  sigma_ = std::max(kMinSigma, kMadToSigma * median(std::move(dev)));
  // G(a) = integral of sqrt(h(s)) ds = integral of sqrt(h(e^u)) e^u du,
  // trapezoids on the log grid; below 1 s sqrt(h) is taken as constant.
  table_.assign(kGridPoints, 0);
  auto integrand = [&](double u) {
    const double a = std::exp(u);
    return std::sqrt(logNormalHazard(mu_, sigma_, a)) * a;
  };
  double prev = integrand(kGridMinLog);
  table_[0] = std::sqrt(logNormalHazard(mu_, sigma_, 1.0));  // [0, 1 s]
  for (size_t i = 1; i < kGridPoints; ++i) {
    const double cur = integrand(kGridMinLog + kGridStep * static_cast<double>(i));
    table_[i] = table_[i - 1] + (prev + cur) / 2 * kGridStep;
    prev = cur;
  }
}

double TypeDurations::cumulative(double age) const {
  if (!(age > 0)) return 0;
  if (age <= 1) return table_[0] * age;
  const double u = std::log(age);
  if (u >= kGridMaxLog) {
    const double top = std::exp(kGridMaxLog);
    return table_.back() + std::sqrt(logNormalHazard(mu_, sigma_, top)) * (age - top);
  }
  const double x = (u - kGridMinLog) / kGridStep;
  const auto i = static_cast<size_t>(x);
  const double f = x - static_cast<double>(i);
  return table_[i] * (1 - f) + table_[i + 1] * f;
}

double TypeDurations::sqrtHazardIntegral(double age0, double age1) const {
  if (table_.empty() || age1 <= age0) return 0;
  return std::max(0.0, cumulative(age1) - cumulative(age0));
}

double TypeDurations::empiricalQuantile(double q) const {
  if (logs_.empty()) return 0;
  std::vector<double> sorted = logs_;
  std::sort(sorted.begin(), sorted.end());
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto i = static_cast<size_t>(pos);
  const double f = pos - static_cast<double>(i);
  const double l = i + 1 < sorted.size() ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
  return std::exp(l);
}

double TypeDurations::fittedQuantile(double q) const {
  return std::exp(mu_ + sigma_ * normalQuantile(q));
}

void DurationModels::learn(std::string_view account, std::string_view type, double seconds) {
  if (!(seconds > 0) || !std::isfinite(seconds) || type.size() > kMaxTypeLength) return;
  auto acc = accounts_.find(account);
  if (acc == accounts_.end()) acc = accounts_.emplace(std::string(account), Types{}).first;
  auto it = acc->second.find(type);
  if (it == acc->second.end()) {
    if (acc->second.size() >= kMaxTypes) return;
    it = acc->second.emplace(std::string(type), TypeDurations{}).first;
  }
  it->second.add(seconds);
}

const TypeDurations* DurationModels::find(std::string_view account, std::string_view type) const {
  if (last_found_ != nullptr && type == last_type_ && account == last_account_) return last_found_;
  auto acc = accounts_.find(account);
  if (acc == accounts_.end()) return nullptr;
  auto it = acc->second.find(type);
  if (it == acc->second.end()) return nullptr;
  // Views of the map's own keys: nodes are never erased, so they stay valid.
  last_account_ = acc->first;
  last_type_ = it->first;
  last_found_ = &it->second;
  return last_found_;
}

std::optional<double> DurationModels::sqrtHazardIntegral(std::string_view account,
                                                         std::string_view type, JobPhase phase,
                                                         double age0, double age1) const {
  const TypeDurations* t = find(account, type);
  if (t == nullptr || !t->known()) return std::nullopt;
  const double g = t->sqrtHazardIntegral(age0, age1);
  // sqrt(factor * h) = sqrt(factor) * sqrt(h).
  return phase == JobPhase::kQueued ? g * std::sqrt(kQueuedHazardFactor) : g;
}

}  // namespace jobwatch::scheduler
