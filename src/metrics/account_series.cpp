// SPDX-License-Identifier: Apache-2.0
#include "metrics/account_series.h"

#include <unordered_set>

#include "metrics/job_series_table.h"

namespace jobwatch::metrics {

namespace {

using prometheus::Counter;
using prometheus::Family;
using prometheus::Histogram;

// API round trips: a few ms on a LAN, seconds when the API struggles, up to
// the request timeout (10 s default, 30 s as a generous ceiling).
const Histogram::BucketBoundaries kPollBuckets = {.005, .01, .025, .05, .1, .25,
                                                  .5,   1,   2.5,  5,   10, 30};

}  // namespace

AccountSeries::AccountSeries(prometheus::Registry& registry, std::vector<std::string> poll_results,
                             std::vector<std::string> fetch_results, const Clock& clock)
    : poll_results_(std::move(poll_results)),
      fetch_results_(std::move(fetch_results)),
      clock_(clock),
      polls_(prometheus::BuildCounter()
                 .Name("jobwatch_polls_total")
                 .Help("Polls of GET /jobs/{id} by account and outcome: ok, not_found (404), "
                       "rate_limited (429/503), auth_error (401/403: check the API key), "
                       "http_error (other codes), timeout, network_error, parse_error (unusable "
                       "body).")
                 .Register(registry)),
      poll_duration_(prometheus::BuildHistogram()
                         .Name("jobwatch_poll_duration_seconds")
                         .Help("Time each job status request to the API took, whatever its "
                               "outcome, by account.")
                         .Register(registry)),
      api_up_(prometheus::BuildGauge()
                  .Name("jobwatch_api_up")
                  .Help("1 if the account's last poll reached the API and was authorised; 0 "
                        "after a timeout, network error, 5xx or auth error, and before the first "
                        "poll.")
                  .Register(registry)),
      last_success_(prometheus::BuildGauge()
                        .Name("jobwatch_last_successful_poll_timestamp_seconds")
                        .Help("Unix time of the account's last poll the API answered with a "
                              "usable job (result ok); 0 until the first.")
                        .Register(registry)),
      overdue_(prometheus::BuildGauge()
                   .Name("jobwatch_jobs_overdue")
                   .Help("Unfinished jobs past poll.overdue_after (or, with auto, the 99th "
                         "percentile of their type's learned duration), by account.")
                   .Register(registry)),
      budget_(prometheus::BuildGauge()
                  .Name("jobwatch_requests_budget_per_second")
                  .Help("The account's api.rate_limit in requests per second, shared by status "
                        "and result requests; 0 means unlimited.")
                  .Register(registry)),
      requests_(prometheus::BuildCounter()
                    .Name("jobwatch_requests_total")
                    .Help("Requests to the API by account and kind: status (GET /jobs/{id}) and "
                          "result (GET /jobs/{id}/result); each takes a token of the account's "
                          "budget (jobwatch_requests_budget_per_second).")
                    .Register(registry)),
      fetches_(prometheus::BuildCounter()
                   .Name("jobwatch_result_fetches_total")
                   .Help("Fetches of GET /jobs/{id}/result by account and outcome: ok, not_ready "
                         "(409), rate_limited (429/503), http_error, timeout, network_error, "
                         "too_large (over results.max_size), write_error (disk full or I/O error "
                         "writing the file).")
                   .Register(registry)),
      given_up_(prometheus::BuildCounter()
                    .Name("jobwatch_results_given_up_total")
                    .Help("Results given up by account: not fetched within "
                          "results.give_up_after, or over results.max_size; hooks that wanted "
                          "them ran without them.")
                    .Register(registry)) {}

AccountSeries::Series& AccountSeries::seriesLocked(std::string_view account) {
  auto it = accounts_.find(account);
  if (it != accounts_.end()) return it->second;
  const std::string name(account);
  Series s;
  for (const auto& result : poll_results_) labeled(s.polls, polls_, name, result);
  for (const auto& result : fetch_results_) labeled(s.fetches, fetches_, name, result);
  s.poll_duration = &poll_duration_.Add({{"account", name}}, kPollBuckets);
  s.api_up = &api_up_.Add({{"account", name}});
  s.last_success = &last_success_.Add({{"account", name}});
  s.overdue = &overdue_.Add({{"account", name}});
  s.status_requests = &requests_.Add({{"account", name}, {"kind", "status"}});
  s.result_requests = &requests_.Add({{"account", name}, {"kind", "result"}});
  s.given_up = &given_up_.Add({{"account", name}});
  return accounts_.emplace(name, std::move(s)).first->second;
}

Counter& AccountSeries::labeled(Labeled& counters, Family<Counter>& family,
                                std::string_view account, std::string_view result) {
  for (auto& [label, counter] : counters) {
    if (label == result) return *counter;
  }
  const std::string label(result);
  counters.emplace_back(label, &family.Add({{"account", std::string(account)}, {"result", label}}));
  return *counters.back().second;
}

void AccountSeries::removeLocked(Series& s) {
  for (auto& [label, counter] : s.polls) polls_.Remove(counter);
  for (auto& [label, counter] : s.fetches) fetches_.Remove(counter);
  poll_duration_.Remove(s.poll_duration);
  api_up_.Remove(s.api_up);
  last_success_.Remove(s.last_success);
  overdue_.Remove(s.overdue);
  if (s.budget) budget_.Remove(s.budget);
  requests_.Remove(s.status_requests);
  requests_.Remove(s.result_requests);
  given_up_.Remove(s.given_up);
}

void AccountSeries::configure(const std::vector<AccountBudget>& accounts) {
  const std::lock_guard lock(mu_);
  std::unordered_set<std::string_view> listed;
  for (const auto& account : accounts) {
    listed.insert(account.name);
    Series& s = seriesLocked(account.name);
    if (!s.budget) s.budget = &budget_.Add({{"account", account.name}});
    s.budget->Set(account.requests_per_second > 0 ? account.requests_per_second : 0);
  }
  for (auto it = accounts_.begin(); it != accounts_.end();) {
    if (listed.count(it->first) > 0) {
      ++it;
      continue;
    }
    removeLocked(it->second);
    it = accounts_.erase(it);
  }
}

void AccountSeries::pollFinished(std::string_view account, const PollSample& poll) {
  const std::lock_guard lock(mu_);
  Series& s = seriesLocked(account);
  labeled(s.polls, polls_, account, poll.result).Increment();
  s.status_requests->Increment();
  s.poll_duration->Observe(poll.elapsed.count());
  s.api_up->Set(poll.api_up ? 1 : 0);
  if (poll.usable) s.last_success->Set(unixSeconds(clock_.wallNow()));
}

void AccountSeries::resultFetched(std::string_view account, std::string_view result, bool sent) {
  const std::lock_guard lock(mu_);
  Series& s = seriesLocked(account);
  if (sent) s.result_requests->Increment();
  labeled(s.fetches, fetches_, account, result).Increment();
}

void AccountSeries::resultGivenUp(std::string_view account) {
  const std::lock_guard lock(mu_);
  seriesLocked(account).given_up->Increment();
}

void AccountSeries::jobsOverdue(std::string_view account, size_t overdue) {
  const std::lock_guard lock(mu_);
  seriesLocked(account).overdue->Set(static_cast<double>(overdue));
}

}  // namespace jobwatch::metrics
