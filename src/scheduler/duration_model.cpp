// SPDX-License-Identifier: Apache-2.0
#include "scheduler/duration_model.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <tuple>

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

// Reads `n` digits at text[pos...]; false when they are not digits.
bool digits(std::string_view text, size_t pos, size_t n, int& out) {
  if (pos + n > text.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
long daysFromCivil(int y, int m, int d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

std::optional<double> apiTimeSeconds(std::string_view t) {
  int y, mo, d, h, mi, s;
  if (!digits(t, 0, 4, y) || t.size() < 19 || t[4] != '-' || !digits(t, 5, 2, mo) || t[7] != '-' ||
      !digits(t, 8, 2, d) || (t[10] != 'T' && t[10] != 't' && t[10] != ' ') ||
      !digits(t, 11, 2, h) || t[13] != ':' || !digits(t, 14, 2, mi) || t[16] != ':' ||
      !digits(t, 17, 2, s) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    return std::nullopt;
  }
  double secs = static_cast<double>(daysFromCivil(y, mo, d)) * 86400 + h * 3600 + mi * 60 + s;
  size_t pos = 19;
  if (pos < t.size() && t[pos] == '.') {
    double scale = 0.1;
    for (++pos; pos < t.size() && t[pos] >= '0' && t[pos] <= '9'; ++pos, scale /= 10) {
      secs += (t[pos] - '0') * scale;
    }
  }
  if (pos == t.size()) return secs;
  if ((t[pos] == 'Z' || t[pos] == 'z') && pos + 1 == t.size()) return secs;
  int oh, om;
  if ((t[pos] == '+' || t[pos] == '-') && pos + 6 == t.size() && digits(t, pos + 1, 2, oh) &&
      t[pos + 3] == ':' && digits(t, pos + 4, 2, om)) {
    const double offset = oh * 3600 + om * 60;
    return t[pos] == '+' ? secs - offset : secs + offset;
  }
  return std::nullopt;
}

double logNormalHazard(double mu, double sigma, double age) {
  if (!(age > 0)) return 0;
  const double z = (std::log(age) - mu) / sigma;
  if (z > 8) return (z + 1 / z) / (sigma * age);  // Mills ratio: the survival underflows
  const double pdf = std::exp(-z * z / 2) / (sigma * age * std::sqrt(2 * std::numbers::pi));
  const double survival = 0.5 * std::erfc(z / std::numbers::sqrt2);
  return pdf / survival;
}

void TypeDurations::add(double seconds, bool completed) {
  const double l = std::log(seconds);
  if (logs_.size() < kReservoir) {
    logs_.push_back(l);
    completed_.push_back(completed);
  } else {
    logs_[next_] = l;
    completed_[next_] = completed;
    next_ = (next_ + 1) % kReservoir;
  }
  ++total_;
  if (known()) refit();
}

namespace {

// The robust fit of one group of log durations.
std::pair<double, double> robustFit(const std::vector<double>& logs) {
  const double mu = median(logs);
  std::vector<double> dev(logs.size());
  std::transform(logs.begin(), logs.end(), dev.begin(), [&](double l) { return std::abs(l - mu); });
  return {mu, std::max(kMinSigma, kMadToSigma * median(std::move(dev)))};
}

}  // namespace

double TypeDurations::hazard(double age) const {
  if (parts_[1].weight == 0) return logNormalHazard(mu_, sigma_, age);
  if (!(age > 0)) return 0;
  double pdf = 0, survival = 0;
  for (const Component& c : parts_) {
    const double z = (std::log(age) - c.mu) / c.sigma;
    pdf += c.weight * std::exp(-z * z / 2) / (c.sigma * age * std::sqrt(2 * std::numbers::pi));
    survival += c.weight * 0.5 * std::erfc(z / std::numbers::sqrt2);
  }
  if (survival < 1e-280) {  // far in both tails: the longer-lived part's hazard
    const Component& c = parts_[0].mu + 3 * parts_[0].sigma >= parts_[1].mu + 3 * parts_[1].sigma
                             ? parts_[0]
                             : parts_[1];
    return logNormalHazard(c.mu, c.sigma, age);
  }
  return pdf / survival;
}

void TypeDurations::refit() {
  std::vector<double> groups[2];
  for (size_t i = 0; i < logs_.size(); ++i) groups[completed_[i] ? 0 : 1].push_back(logs_[i]);
  if (groups[0].size() < groups[1].size()) std::swap(groups[0], groups[1]);
  if (groups[1].size() < kMinComponent) {  // too few to fit: one group
    groups[0] = logs_;
    groups[1].clear();
  }
  std::tie(mu_, sigma_) = robustFit(groups[0]);
  parts_ = {};
  parts_[0] = {static_cast<double>(groups[0].size()), mu_, sigma_};
  if (!groups[1].empty()) {
    const auto [mu, sigma] = robustFit(groups[1]);
    parts_[1] = {static_cast<double>(groups[1].size()), mu, sigma};
  }
  const double all = parts_[0].weight + parts_[1].weight;
  parts_[0].weight /= all;
  parts_[1].weight /= all;
  // G(a) = integral of sqrt(h(s)) ds = integral of sqrt(h(e^u)) e^u du,
  // trapezoids on the log grid; below 1 s sqrt(h) is taken as constant.
  table_.assign(kGridPoints, 0);
  auto integrand = [&](double u) {
    const double a = std::exp(u);
    return std::sqrt(hazard(a)) * a;
  };
  double prev = integrand(kGridMinLog);
  table_[0] = std::sqrt(hazard(1.0));  // [0, 1 s]
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
    return table_.back() + std::sqrt(hazard(top)) * (age - top);
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

void DurationModels::learn(std::string_view account, std::string_view type, double seconds,
                           bool completed) {
  if (!(seconds > 0) || !std::isfinite(seconds) || type.size() > kMaxTypeLength) return;
  auto acc = accounts_.find(account);
  if (acc == accounts_.end()) acc = accounts_.emplace(std::string(account), Types{}).first;
  auto it = acc->second.find(type);
  if (it == acc->second.end()) {
    if (acc->second.size() >= kMaxTypes) return;
    it = acc->second.emplace(std::string(type), TypeDurations{}).first;
  }
  it->second.add(seconds, completed);
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
  if (t == nullptr || !t->informative()) return std::nullopt;
  const double g = t->sqrtHazardIntegral(age0, age1);
  // sqrt(factor * h) = sqrt(factor) * sqrt(h).
  return phase == JobPhase::kQueued ? g * std::sqrt(kQueuedHazardFactor) : g;
}

}  // namespace jobwatch::scheduler
