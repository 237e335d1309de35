// SPDX-License-Identifier: Apache-2.0
// DaemonMetrics' per-account series (SPEC "Accounts"): the account label on
// the API metrics, zero-fill and budget per configured account, removal on
// reconfigure, and exact totals under concurrent engine threads.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "metrics/daemon_metrics.h"
#include "metrics_test_util.h"

namespace jobwatch::metrics {
namespace {

using testing::LabelMap;
using testing::Scrape;
using namespace std::chrono_literals;

const std::vector<std::string> kPollResults = {
    "ok",          "http_error", "timeout",      "network_error",
    "parse_error", "auth_error", "rate_limited", "not_found"};
const std::vector<std::string> kFetchResults = {
    "ok",        "http_error",   "timeout",   "network_error",
    "too_large", "rate_limited", "not_ready", "write_error"};

// Every family that carries the account label.
const std::vector<std::string> kAccountFamilies = {
    "jobwatch_polls_total",    "jobwatch_poll_duration_seconds",
    "jobwatch_api_up",         "jobwatch_last_successful_poll_timestamp_seconds",
    "jobwatch_requests_total", "jobwatch_result_fetches_total",
    "jobwatch_jobs_overdue",   "jobwatch_requests_budget_per_second"};

PollSample sample(std::string_view result, bool up, bool usable,
                  std::chrono::duration<double> elapsed = 20ms) {
  return PollSample{result, up, usable, elapsed};
}

class AccountMetricsTest : public ::testing::Test {
 protected:
  AccountMetricsTest() {
    MetricsOptions o;
    o.statuses = {"queued", "completed"};
    o.poll_results = kPollResults;
    o.result_fetch_results = kFetchResults;
    o.version = "test";
    metrics_ =
        std::make_unique<DaemonMetrics>(std::make_shared<prometheus::Registry>(), o, clock_, log_);
  }

  Scrape scrape() const { return Scrape(*metrics_->collectable()); }

  // How many series of the account families name `account`.
  static size_t seriesOf(const Scrape& s, const std::string& account) {
    size_t n = 0;
    for (const auto& name : kAccountFamilies) {
      const auto* family = s.family(name);
      if (!family) continue;
      for (const auto& m : family->metric) {
        for (const auto& l : m.label) n += l.name == "account" && l.value == account ? 1 : 0;
      }
    }
    return n;
  }

  static LabelMap of(const std::string& account, LabelMap more = {}) {
    more["account"] = account;
    return more;
  }

  double nowSeconds() const {
    return std::chrono::duration<double>(clock_.wallNow().time_since_epoch()).count();
  }

  ManualClock clock_;
  std::ostringstream log_out_;
  Log log_{LogFormat::kText, LogLevel::kInfo, log_out_};
  std::unique_ptr<DaemonMetrics> metrics_;
};

TEST_F(AccountMetricsTest, EveryConfiguredAccountStartsAtZeroWithItsBudget) {
  metrics_->accountsConfigured({{"default", 100.0 / 60.0}, {"team-b", 0}, {"odd", -5}});
  const auto s = scrape();
  for (const std::string account : {"default", "team-b", "odd"}) {
    for (const auto& result : kPollResults) {
      EXPECT_EQ(s.value("jobwatch_polls_total", of(account, {{"result", result}})), 0.0)
          << account << " " << result;
    }
    for (const auto& result : kFetchResults) {
      EXPECT_EQ(s.value("jobwatch_result_fetches_total", of(account, {{"result", result}})), 0.0)
          << account << " " << result;
    }
    for (const char* kind : {"status", "result"}) {
      EXPECT_EQ(s.value("jobwatch_requests_total", of(account, {{"kind", kind}})), 0.0) << kind;
    }
    EXPECT_EQ(s.value("jobwatch_api_up", of(account)), 0.0) << account;
    EXPECT_EQ(s.value("jobwatch_results_given_up_total", of(account)), 0.0) << account;
    EXPECT_EQ(s.value("jobwatch_jobs_overdue", of(account)), 0.0) << account;
    EXPECT_EQ(s.value("jobwatch_last_successful_poll_timestamp_seconds", of(account)), 0.0);
    EXPECT_EQ(s.histogramCount("jobwatch_poll_duration_seconds", of(account)), 0u);
  }
  EXPECT_DOUBLE_EQ(*s.value("jobwatch_requests_budget_per_second", of("default")), 100.0 / 60.0);
  EXPECT_EQ(s.value("jobwatch_requests_budget_per_second", of("team-b")), 0.0);  // unlimited
  EXPECT_EQ(s.value("jobwatch_requests_budget_per_second", of("odd")), 0.0);     // off = unlimited
  // Nothing without the label: every API series names its account.
  EXPECT_EQ(s.seriesCount("jobwatch_polls_total"), 3 * kPollResults.size());
  EXPECT_EQ(s.seriesCount("jobwatch_api_up"), 3u);
}

TEST_F(AccountMetricsTest, TwoAccountsAreCountedApart) {
  metrics_->accountsConfigured({{"default", 10}, {"team-b", 20}});
  metrics_->pollFinished("default", sample("ok", true, true, 30ms));
  metrics_->pollFinished("default", sample("ok", true, true, 30ms));
  metrics_->pollFinished("team-b", sample("timeout", false, false, 2s));
  metrics_->resultFetched("default", "ok");
  metrics_->resultFetched("team-b", "write_error");
  metrics_->resultFetched("team-b", "not_ready");
  metrics_->jobsOverdue("team-b", 3);
  const auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_polls_total", of("default", {{"result", "ok"}})), 2.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("default", {{"result", "timeout"}})), 0.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("team-b", {{"result", "timeout"}})), 1.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("team-b", {{"result", "ok"}})), 0.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", of("default", {{"kind", "status"}})), 2.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", of("default", {{"kind", "result"}})), 1.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", of("team-b", {{"kind", "status"}})), 1.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", of("team-b", {{"kind", "result"}})), 2.0);
  EXPECT_EQ(s.value("jobwatch_result_fetches_total", of("team-b", {{"result", "write_error"}})),
            1.0);
  EXPECT_EQ(s.value("jobwatch_result_fetches_total", of("default", {{"result", "ok"}})), 1.0);
  EXPECT_EQ(s.value("jobwatch_api_up", of("default")), 1.0);
  EXPECT_EQ(s.value("jobwatch_api_up", of("team-b")), 0.0);
  EXPECT_EQ(s.value("jobwatch_last_successful_poll_timestamp_seconds", of("default")),
            nowSeconds());
  EXPECT_EQ(s.value("jobwatch_last_successful_poll_timestamp_seconds", of("team-b")), 0.0);
  EXPECT_EQ(s.histogramCount("jobwatch_poll_duration_seconds", of("default")), 2u);
  EXPECT_EQ(s.histogramCount("jobwatch_poll_duration_seconds", of("team-b")), 1u);
  EXPECT_EQ(s.value("jobwatch_jobs_overdue", of("team-b")), 3.0);
  EXPECT_EQ(s.value("jobwatch_jobs_overdue", of("default")), 0.0);
}

TEST_F(AccountMetricsTest, AWriteErrorBeforeSendingIsNoRequestAndGivenUpResultsAreCounted) {
  metrics_->accountsConfigured({{"default", 10}, {"team-b", 20}});
  metrics_->resultFetched("team-b", "write_error", false);  // the file could not be created
  metrics_->resultFetched("team-b", "write_error", true);   // the commit failed
  metrics_->resultGivenUp("team-b");
  metrics_->resultGivenUp("team-b");
  const auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_result_fetches_total", of("team-b", {{"result", "write_error"}})),
            2.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", of("team-b", {{"kind", "result"}})), 1.0);
  EXPECT_EQ(s.value("jobwatch_results_given_up_total", of("team-b")), 2.0);
  EXPECT_EQ(s.value("jobwatch_results_given_up_total", of("default")), 0.0);
}

TEST_F(AccountMetricsTest, ReconfigureRemovesLeftAccountsAddsNewOnesAndKeepsCounts) {
  metrics_->accountsConfigured({{"default", 10}, {"team-b", 20}});
  metrics_->pollFinished("default", sample("ok", true, true));
  metrics_->pollFinished("team-b", sample("ok", true, true));
  const size_t per_account = seriesOf(scrape(), "default");
  EXPECT_EQ(seriesOf(scrape(), "team-b"), per_account);

  metrics_->accountsConfigured({{"default", 5}, {"team-c", 1}});
  auto s = scrape();
  EXPECT_EQ(seriesOf(s, "team-b"), 0u);  // gone from every family
  EXPECT_EQ(seriesOf(s, "team-c"), per_account);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("team-c", {{"result", "ok"}})), 0.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("default", {{"result", "ok"}})), 1.0);  // kept
  EXPECT_EQ(s.value("jobwatch_requests_budget_per_second", of("default")), 5.0);       // changed
  EXPECT_EQ(s.value("jobwatch_requests_budget_per_second", of("team-c")), 1.0);

  // An account that comes back starts again at 0.
  metrics_->accountsConfigured({{"default", 5}, {"team-b", 20}});
  s = scrape();
  EXPECT_EQ(seriesOf(s, "team-c"), 0u);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("team-b", {{"result", "ok"}})), 0.0);
}

TEST_F(AccountMetricsTest, AnAccountNotConfiguredGetsItsSeriesOnFirstUseWithoutABudget) {
  metrics_->accountsConfigured({{"default", 10}});
  metrics_->pollFinished("late", sample("auth_error", false, false));
  auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_polls_total", of("late", {{"result", "auth_error"}})), 1.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", of("late", {{"result", "ok"}})), 0.0);  // zero-filled
  EXPECT_EQ(s.value("jobwatch_requests_budget_per_second", of("late")), std::nullopt);
  // A label outside the configured vocabulary is added on first use.
  metrics_->pollFinished("default", sample("novel", true, false));
  EXPECT_EQ(scrape().value("jobwatch_polls_total", of("default", {{"result", "novel"}})), 1.0);
  metrics_->accountsConfigured({{"default", 10}});
  EXPECT_EQ(seriesOf(scrape(), "late"), 0u);
}

TEST_F(AccountMetricsTest, ConcurrentEngineThreadsOfTwoAccountsAddUpExactly) {
  metrics_->accountsConfigured({{"a", 10}, {"b", 10}});
  constexpr int kPolls = 20'000;
  std::vector<std::jthread> threads;
  for (const std::string account : {"a", "b"}) {
    threads.emplace_back([this, account] {
      for (int i = 0; i < kPolls; ++i) {
        metrics_->pollFinished(account, sample(i % 2 == 0 ? "ok" : "timeout", true, i % 2 == 0));
        if (i % 10 == 0) metrics_->resultFetched(account, "ok");
        if (i % 100 == 0) metrics_->jobsOverdue(account, static_cast<size_t>(i));
      }
    });
  }
  // Meanwhile: reloads that keep both accounts (and add and drop a third),
  // and scrapes.
  threads.emplace_back([this] {
    for (int i = 0; i < 200; ++i) {
      if (i % 2 == 0) {
        metrics_->accountsConfigured({{"a", 10}, {"b", 10}, {"c", 1}});
      } else {
        metrics_->accountsConfigured({{"a", 10}, {"b", 10}});
      }
      (void)metrics_->collectable()->Collect();
    }
  });
  // An engine still reporting for the account being added and removed.
  threads.emplace_back([this] {
    for (int i = 0; i < kPolls; ++i) metrics_->pollFinished("c", sample("ok", true, true));
  });
  threads.clear();  // joins
  const auto s = scrape();
  for (const std::string account : {"a", "b"}) {
    EXPECT_EQ(s.value("jobwatch_polls_total", of(account, {{"result", "ok"}})), kPolls / 2);
    EXPECT_EQ(s.value("jobwatch_polls_total", of(account, {{"result", "timeout"}})), kPolls / 2);
    EXPECT_EQ(s.value("jobwatch_requests_total", of(account, {{"kind", "status"}})), kPolls);
    EXPECT_EQ(s.value("jobwatch_requests_total", of(account, {{"kind", "result"}})), kPolls / 10);
    EXPECT_EQ(s.histogramCount("jobwatch_poll_duration_seconds", of(account)),
              static_cast<std::uint64_t>(kPolls));
    EXPECT_EQ(s.value("jobwatch_jobs_overdue", of(account)), kPolls - 100);
  }
}

}  // namespace
}  // namespace jobwatch::metrics
