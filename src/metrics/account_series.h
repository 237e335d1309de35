// SPDX-License-Identifier: Apache-2.0
// AccountSeries: the per-account series of DaemonMetrics (SPEC "Accounts"):
// polls_total{account,result}, poll_duration_seconds{account},
// api_up{account}, last_successful_poll_timestamp_seconds{account},
// requests_total{account,kind}, result_fetches_total{account,result},
// results_given_up_total{account},
// jobs_overdue{account} and requests_budget_per_second{account}.
// Internal to metrics/ (DaemonMetrics owns one).
//
// Each account's series are prometheus-cpp objects reached through one
// struct of pointers in a small map (a handful of accounts): a poll costs
// one map lookup by string_view and a few atomic adds, all under one short
// lock. The lock also covers the adds, so configure() can remove an
// account's series (Family::Remove, a few series) while engine threads
// still report for it.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "metrics/daemon_metrics.h"
#include "util/clock.h"

namespace jobwatch::metrics {

class AccountSeries final {
 public:
  // `poll_results` and `fetch_results` are the result labels created at 0
  // for each account; `clock` (wallNow) stamps successful polls and must
  // outlive this object.
  AccountSeries(prometheus::Registry& registry, std::vector<std::string> poll_results,
                std::vector<std::string> fetch_results, const Clock& clock);

  void configure(const std::vector<AccountBudget>& accounts);
  void pollFinished(std::string_view account, const PollSample& poll);
  void resultFetched(std::string_view account, std::string_view result, bool sent);
  void resultGivenUp(std::string_view account);
  void jobsOverdue(std::string_view account, size_t overdue);

 private:
  using Labeled = std::vector<std::pair<std::string, prometheus::Counter*>>;
  struct Series {
    Labeled polls;    // by result
    Labeled fetches;  // by result
    prometheus::Histogram* poll_duration = nullptr;
    prometheus::Gauge* api_up = nullptr;
    prometheus::Gauge* last_success = nullptr;
    prometheus::Gauge* overdue = nullptr;
    prometheus::Gauge* budget = nullptr;  // null while the account is not configured
    prometheus::Counter* status_requests = nullptr;
    prometheus::Counter* result_requests = nullptr;
    prometheus::Counter* given_up = nullptr;
  };
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  // The account's series, created (at 0) on first use. Requires mu_.
  Series& seriesLocked(std::string_view account);
  prometheus::Counter& labeled(Labeled& counters, prometheus::Family<prometheus::Counter>& family,
                               std::string_view account, std::string_view result);
  void removeLocked(Series& series);

  const std::vector<std::string> poll_results_;
  const std::vector<std::string> fetch_results_;
  const Clock& clock_;
  prometheus::Family<prometheus::Counter>& polls_;
  prometheus::Family<prometheus::Histogram>& poll_duration_;
  prometheus::Family<prometheus::Gauge>& api_up_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Gauge>& overdue_;
  prometheus::Family<prometheus::Gauge>& budget_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& fetches_;
  prometheus::Family<prometheus::Counter>& given_up_;

  std::mutex mu_;
  std::unordered_map<std::string, Series, NameHash, std::equal_to<>> accounts_;  // guarded by mu_
};

}  // namespace jobwatch::metrics
