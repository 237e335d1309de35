// SPDX-License-Identifier: Apache-2.0
// DaemonMetrics as the daemon feeds it: engine and hook events through
// MetricsFeed (the metrics module itself knows neither).
#include "app/metrics_feed.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "../metrics/metrics_test_util.h"
#include "metrics/daemon_metrics.h"

namespace jobwatch::metrics {
using app::MetricsFeed;
namespace {

using api::PollResultKind;
using hooks::HookResult;
using scheduler::JobRecord;
using scheduler::PollFinished;
using scheduler::StatusTransition;
using testing::LabelMap;
using testing::Scrape;
using namespace std::chrono_literals;

const std::vector<std::string> kStatuses = {"unknown", "queued",    "processing", "completed",
                                            "failed",  "not_found", "timed_out",  "cancelled"};
const std::vector<std::string> kAllResults = {
    "ok",          "http_error", "timeout",      "network_error",
    "parse_error", "auth_error", "rate_limited", "not_found"};

// The API metrics' labels of the one account the feed reports for.
const LabelMap kDefault = {{"account", "default"}};

JobRecord job(const std::string& id, const std::string& status = "unknown",
              const std::string& type = "extraction") {
  JobRecord j;
  j.id = id;
  j.status = status;
  j.facts.type = type;
  j.added_at = WallTime(std::chrono::seconds(1'700'000'000));
  return j;
}

class DaemonMetricsTest : public ::testing::Test {
 protected:
  void make(MetricsOptions options) {
    metrics_ = std::make_unique<DaemonMetrics>(registry_, std::move(options), clock_, log_);
    metrics_->accountsConfigured({{"default", 0}});  // as the daemon does at start
    feed_ = std::make_unique<MetricsFeed>(*metrics_);
  }
  void SetUp() override { make(defaultOptions()); }

  static MetricsOptions defaultOptions() {
    MetricsOptions o;
    o.statuses = kStatuses;
    o.poll_results = app::pollResultLabels();
    o.hook_results = app::hookResultLabels();
    o.version = "1.2.3";
    return o;
  }

  Scrape scrape() { return Scrape(*metrics_->collectable()); }

  void poll(const JobRecord& j, PollResultKind kind, std::chrono::microseconds elapsed = 20ms) {
    feed_->onPollFinished(PollFinished{j, kind, 200, elapsed, ""});
  }

  // Moves `j` to `to` and reports it, as the poll engine does.
  void transition(JobRecord& j, const std::string& to) {
    const std::string from = j.status;
    j.status = to;
    feed_->onTransition(StatusTransition{j, from, to, "{}", clock_.wallNow(), 1s});
  }

  size_t logCount(const std::string& needle) const {
    const std::string text = log_out_.str();
    size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
      ++n;
    return n;
  }

  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  ManualClock clock_;
  std::ostringstream log_out_;
  Log log_{LogFormat::kText, LogLevel::kDebug, log_out_};
  std::unique_ptr<DaemonMetrics> metrics_;
  std::unique_ptr<MetricsFeed> feed_;
};

TEST_F(DaemonMetricsTest, EverySeriesExistsFromTheStart) {
  const auto s = scrape();
  for (const auto& status : kStatuses) {
    EXPECT_EQ(s.value("jobwatch_jobs", {{"status", status}}), 0.0) << status;
  }
  // Every known status, and "other" for the API's unknown words.
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "other"}}), 0.0);
  EXPECT_EQ(s.seriesCount("jobwatch_jobs"), kStatuses.size() + 1);
  for (const auto& result : kAllResults) {
    EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", result}}), 0.0)
        << result;
  }
  EXPECT_EQ(s.seriesCount("jobwatch_polls_total"), 8u);
  EXPECT_EQ(s.histogramCount("jobwatch_poll_duration_seconds", kDefault), 0u);
  EXPECT_EQ(s.value("jobwatch_watch_rejected_total", {{"source", "file"}}), 0.0);
  EXPECT_EQ(s.value("jobwatch_watch_rejected_total", {{"source", "drop_dir"}}), 0.0);
  EXPECT_EQ(s.value("jobwatch_api_up", kDefault), 0.0);
  EXPECT_EQ(s.value("jobwatch_last_successful_poll_timestamp_seconds", kDefault), 0.0);
  EXPECT_EQ(s.value("jobwatch_config_last_reload_successful"), 1.0);
  EXPECT_EQ(s.value("jobwatch_build_info", {{"version", "1.2.3"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_hooks_pending"), 0.0);
  EXPECT_EQ(s.value("jobwatch_job_status_series_capped"), 0.0);
  EXPECT_EQ(s.family("jobwatch_job_status"), nullptr);  // no jobs, no per-job family
}

TEST_F(DaemonMetricsTest, PollBucketsSuitApiLatency) {
  const auto s = scrape();
  const auto* m = s.series("jobwatch_poll_duration_seconds", kDefault);
  ASSERT_NE(m, nullptr);
  std::vector<double> bounds;
  for (const auto& b : m->histogram.bucket) bounds.push_back(b.upper_bound);
  ASSERT_GE(bounds.size(), 12u);
  EXPECT_DOUBLE_EQ(bounds.front(), 0.005);
  EXPECT_DOUBLE_EQ(bounds[bounds.size() - 2], 30.0);  // then +Inf
}

TEST_F(DaemonMetricsTest, PollsAreCountedByResultWithDuration) {
  const auto j = job("a");
  poll(j, PollResultKind::kOk, 30ms);
  poll(j, PollResultKind::kOk, 30ms);
  poll(j, PollResultKind::kAuthError, 2s);
  poll(j, PollResultKind::kNotFound, 7ms);
  const auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", "ok"}}), 2.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", "auth_error"}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", "not_found"}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", "timeout"}}), 0.0);
  const auto* h = s.series("jobwatch_poll_duration_seconds", kDefault);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->histogram.sample_count, 4u);
  EXPECT_NEAR(h->histogram.sample_sum, 0.030 + 0.030 + 2.0 + 0.007, 1e-9);
  // le=0.01 holds the 7 ms poll only; le=0.05 also the two 30 ms ones.
  for (const auto& b : h->histogram.bucket) {
    if (b.upper_bound == 0.01) {
      EXPECT_EQ(b.cumulative_count, 1u);
    } else if (b.upper_bound == 0.05) {
      EXPECT_EQ(b.cumulative_count, 3u);
    } else if (b.upper_bound == 2.5) {
      EXPECT_EQ(b.cumulative_count, 4u);
    }
  }
}

TEST_F(DaemonMetricsTest, ApiUpFollowsTheLastPoll) {
  const auto j = job("a");
  const std::vector<std::pair<PollResultKind, double>> cases = {
      {PollResultKind::kOk, 1},          {PollResultKind::kTimeout, 0},
      {PollResultKind::kNotFound, 1},    {PollResultKind::kNetworkError, 0},
      {PollResultKind::kParseError, 1},  {PollResultKind::kHttpError, 0},
      {PollResultKind::kRateLimited, 1}, {PollResultKind::kAuthError, 0},
  };
  for (const auto& [kind, up] : cases) {
    poll(j, kind);
    EXPECT_EQ(scrape().value("jobwatch_api_up", kDefault), up) << api::resultLabel(kind);
  }
}

TEST_F(DaemonMetricsTest, LastSuccessfulPollIsTheClockTimeOfTheLastOk) {
  const auto j = job("a");
  poll(j, PollResultKind::kAuthError);
  EXPECT_EQ(scrape().value("jobwatch_last_successful_poll_timestamp_seconds", kDefault), 0.0);
  poll(j, PollResultKind::kOk);
  const double first = std::chrono::duration<double>(clock_.wallNow().time_since_epoch()).count();
  EXPECT_EQ(scrape().value("jobwatch_last_successful_poll_timestamp_seconds", kDefault), first);
  clock_.advance(90s);
  poll(j, PollResultKind::kRateLimited);  // reached the API, but no job: not a success
  EXPECT_EQ(scrape().value("jobwatch_last_successful_poll_timestamp_seconds", kDefault), first);
  poll(j, PollResultKind::kOk);
  EXPECT_EQ(scrape().value("jobwatch_last_successful_poll_timestamp_seconds", kDefault),
            first + 90);
}

TEST_F(DaemonMetricsTest, AFeedCountsItsPollSideEventsUnderItsAccount) {
  metrics_->accountsConfigured({{"default", 0}, {"team-b", 10}});
  MetricsFeed team_b(*metrics_, "team-b");
  auto j = job("a", "processing");
  team_b.onPollFinished(PollFinished{j, PollResultKind::kTimeout, 0, 5ms, ""});
  state::ResultRecord record;
  record.job_id = "a";
  team_b.onResultUpdate({record, api::ResultFetchKind::kNotReady, 409, 1ms, ""});
  // The file could not be created: counted as a write_error, not a request.
  team_b.onResultUpdate({record, api::ResultFetchKind::kWriteError, 0, 0ms, "ENOSPC", false});
  record.state = state::ResultState::kGaveUp;  // given up at its deadline, without a request
  team_b.onResultUpdate({record, std::nullopt, 0, 0ms, "no result"});
  j.overdue = true;
  team_b.onOverdue(j);
  const auto s = scrape();
  const LabelMap b = {{"account", "team-b"}};
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "team-b"}, {"result", "timeout"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", "timeout"}}), 0.0);
  EXPECT_EQ(
      s.value("jobwatch_result_fetches_total", {{"account", "team-b"}, {"result", "not_ready"}}),
      1.0);
  EXPECT_EQ(
      s.value("jobwatch_result_fetches_total", {{"account", "team-b"}, {"result", "write_error"}}),
      1.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", {{"account", "team-b"}, {"kind", "result"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_requests_total", {{"account", "team-b"}, {"kind", "status"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_results_given_up_total", b), 1.0);
  EXPECT_EQ(s.value("jobwatch_results_given_up_total", kDefault), 0.0);
  EXPECT_EQ(s.value("jobwatch_jobs_overdue", b), 1.0);
  EXPECT_EQ(s.value("jobwatch_jobs_overdue", kDefault), 0.0);
  EXPECT_EQ(s.value("jobwatch_requests_budget_per_second", b), 10.0);
}

TEST_F(DaemonMetricsTest, JobsByStatusFollowWatchTransitionsAndUnwatch) {
  auto a = job("a");
  auto b = job("b");
  auto c = job("c", "queued");
  metrics_->jobWatched(a);
  metrics_->jobWatched(b);
  metrics_->jobWatched(c);
  auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "unknown"}}), 2.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "queued"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), 0.0);

  transition(a, "queued");
  transition(a, "processing");
  transition(c, "review");  // a word we do not know: counted as "other" (SPEC "Statuses")
  s = scrape();
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "unknown"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "queued"}}), 0.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "processing"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "other"}}), 1.0);
  EXPECT_EQ(s.series("jobwatch_jobs", {{"status", "review"}}), nullptr);
  // The job's own series keeps the real word.
  EXPECT_EQ(s.value("jobwatch_job_status",
                    {{"job_id", "c"}, {"status", "review"}, {"type", "extraction"}}),
            1.0);

  transition(a, "completed");
  metrics_->jobUnwatched("a", "completed");
  metrics_->jobUnwatched("c", "review");
  s = scrape();
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), 0.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "other"}}), 0.0);  // stays, at zero
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "unknown"}}), 1.0);
}

TEST_F(DaemonMetricsTest, EngineEventsThroughAFanoutDriveJobsAndSeries) {
  scheduler::PollEventsFanout fanout({feed_.get()});
  scheduler::PollEvents& events = fanout;
  auto a = job("a", "queued");
  auto b = job("b", "completed");
  b.terminal = true;
  events.onJobWatched(a);
  events.onJobWatched(b);  // restored from state, already finished
  a.status = "processing";
  events.onTransition(StatusTransition{a, "queued", "processing", "{}", clock_.wallNow(), 1s});
  auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "processing"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "queued"}}), 0.0);
  EXPECT_EQ(s.value("jobwatch_job_status",
                    {{"job_id", "b"}, {"status", "completed"}, {"type", "extraction"}}),
            1.0);
  // Only the unfinished job has an age.
  EXPECT_EQ(s.seriesCount("jobwatch_job_added_timestamp_seconds"), 1u);
  EXPECT_NE(s.series("jobwatch_job_added_timestamp_seconds", {{"job_id", "a"}}), nullptr);

  events.onJobUnwatched(b);  // forgotten
  s = scrape();
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), 0.0);
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 1u);
}

TEST_F(DaemonMetricsTest, AFreshStatusWordPerPollAddsNoAggregateSeries) {
  auto j = job("j", "queued");
  metrics_->jobWatched(j);
  const size_t before = scrape().seriesCount("jobwatch_jobs");
  for (int i = 0; i < 1000; ++i) transition(j, "word-" + std::to_string(i));
  transition(j, "completed");
  const auto s = scrape();
  EXPECT_EQ(s.seriesCount("jobwatch_jobs"), before);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "other"}}), 0.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), 1.0);
  // queued -> other, other -> other (999 times), other -> completed.
  EXPECT_EQ(s.seriesCount("jobwatch_status_changes_total"), 3u);
  EXPECT_EQ(s.value("jobwatch_status_changes_total", {{"from", "other"}, {"to", "other"}}), 999.0);
}

TEST_F(DaemonMetricsTest, StatusChangesAreCountedByFromAndTo) {
  auto a = job("a");
  auto b = job("b");
  metrics_->jobWatched(a);
  metrics_->jobWatched(b);
  transition(a, "processing");
  transition(b, "processing");
  transition(a, "completed");
  const auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_status_changes_total", {{"from", "unknown"}, {"to", "processing"}}),
            2.0);
  EXPECT_EQ(s.value("jobwatch_status_changes_total", {{"from", "processing"}, {"to", "completed"}}),
            1.0);
  EXPECT_EQ(s.seriesCount("jobwatch_status_changes_total"), 2u);
}

TEST_F(DaemonMetricsTest, PerJobSeriesAreAddedChangedAndRemoved) {
  auto a = job("a", "unknown", "extraction");
  auto b = job("b", "queued", "");
  b.added_at = WallTime{};  // never set: no age series
  metrics_->jobWatched(a);
  metrics_->jobWatched(b);
  auto s = scrape();
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 2u);
  EXPECT_EQ(s.value("jobwatch_job_status",
                    {{"job_id", "a"}, {"status", "unknown"}, {"type", "extraction"}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_job_status", {{"job_id", "b"}, {"status", "queued"}, {"type", ""}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_job_added_timestamp_seconds", {{"job_id", "a"}}), 1'700'000'000.0);
  EXPECT_EQ(s.seriesCount("jobwatch_job_added_timestamp_seconds"), 1u);

  a.facts.type = "classification";  // the API told us the type with this status
  transition(a, "processing");
  s = scrape();
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 2u);
  EXPECT_EQ(s.value("jobwatch_job_status",
                    {{"job_id", "a"}, {"status", "processing"}, {"type", "classification"}}),
            1.0);
  EXPECT_FALSE(s.value("jobwatch_job_status",
                       {{"job_id", "a"}, {"status", "unknown"}, {"type", "extraction"}}));

  metrics_->jobUnwatched("a", "processing");
  s = scrape();
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 1u);
  EXPECT_EQ(s.series("jobwatch_job_added_timestamp_seconds", {{"job_id", "a"}}), nullptr);
  metrics_->jobUnwatched("b", "queued");
  metrics_->jobUnwatched("never-watched", "queued");  // harmless
  EXPECT_EQ(scrape().family("jobwatch_job_status"), nullptr);
}

TEST_F(DaemonMetricsTest, PerJobSeriesAreCappedAndWarnedOnce) {
  auto options = defaultOptions();
  options.per_job_limit = 3;
  make(options);
  for (const char* id : {"j1", "j2", "j3"}) metrics_->jobWatched(job(id));
  EXPECT_EQ(scrape().value("jobwatch_job_status_series_capped"), 0.0);
  EXPECT_EQ(logCount("per-job series capped"), 0u);

  auto j4 = job("j4");
  metrics_->jobWatched(j4);
  metrics_->jobWatched(job("j5"));
  transition(j4, "processing");  // a refused job's transition does not sneak it in
  auto s = scrape();
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 3u);
  EXPECT_EQ(s.series("jobwatch_job_status",
                     {{"job_id", "j4"}, {"status", "processing"}, {"type", "extraction"}}),
            nullptr);
  EXPECT_EQ(s.value("jobwatch_job_status_series_capped"), 1.0);
  EXPECT_EQ(logCount("per-job series capped"), 1u) << log_out_.str();
  EXPECT_NE(log_out_.str().find("limit=3"), std::string::npos);
  // Aggregates still count every job.
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "unknown"}}), 4.0);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "processing"}}), 1.0);

  // A place frees up: a waiting job takes it, with its current status.
  metrics_->jobUnwatched("j1", "unknown");
  metrics_->jobUnwatched("j5", "unknown");
  s = scrape();
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 3u);
  EXPECT_EQ(s.value("jobwatch_job_status",
                    {{"job_id", "j4"}, {"status", "processing"}, {"type", "extraction"}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_job_status_series_capped"), 0.0);

  metrics_->jobWatched(job("j6"));
  EXPECT_EQ(scrape().value("jobwatch_job_status_series_capped"), 1.0);
  EXPECT_EQ(logCount("per-job series capped"), 1u);  // once per process
}

TEST_F(DaemonMetricsTest, PerJobSeriesCanBeTurnedOff) {
  auto options = defaultOptions();
  options.per_job_series = false;
  make(options);
  auto a = job("a");
  metrics_->jobWatched(a);
  transition(a, "completed");
  const auto s = scrape();
  EXPECT_EQ(s.family("jobwatch_job_status"), nullptr);
  EXPECT_EQ(s.family("jobwatch_job_added_timestamp_seconds"), nullptr);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_job_status_series_capped"), 0.0);
}

TEST_F(DaemonMetricsTest, HookRunsDurationsAndPending) {
  metrics_->hooksConfigured({"notify-done"});
  auto s = scrape();
  for (const char* result : {"success", "failure", "timeout", "spawn_error"}) {
    EXPECT_EQ(s.value("jobwatch_hook_runs_total", {{"hook", "notify-done"}, {"result", result}}),
              0.0)
        << result;
  }
  EXPECT_EQ(s.histogramCount("jobwatch_hook_duration_seconds", {{"hook", "notify-done"}}), 0u);

  feed_->onPendingChanged(3);
  feed_->onHookFinished("notify-done", HookResult::kFailure, 1.5s);
  feed_->onHookFinished("notify-done", HookResult::kSuccess, 0.2s);
  feed_->onHookFinished("archive", HookResult::kTimeout, 600s);
  feed_->onPendingChanged(1);
  s = scrape();
  EXPECT_EQ(s.value("jobwatch_hook_runs_total", {{"hook", "notify-done"}, {"result", "failure"}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_hook_runs_total", {{"hook", "notify-done"}, {"result", "success"}}),
            1.0);
  EXPECT_EQ(s.value("jobwatch_hook_runs_total", {{"hook", "archive"}, {"result", "timeout"}}), 1.0);
  EXPECT_EQ(s.value("jobwatch_hook_runs_total", {{"hook", "archive"}, {"result", "success"}}), 0.0);
  EXPECT_EQ(s.histogramCount("jobwatch_hook_duration_seconds", {{"hook", "notify-done"}}), 2u);
  EXPECT_EQ(s.histogramCount("jobwatch_hook_duration_seconds", {{"hook", "archive"}}), 1u);
  EXPECT_EQ(s.value("jobwatch_hooks_pending"), 1.0);
}

TEST_F(DaemonMetricsTest, WatchRejectionsAndReloads) {
  metrics_->watchRejected("file", 2);
  metrics_->watchRejected("drop_dir", 1);
  metrics_->watchRejected("drop_dir", 1);
  metrics_->configReloaded(false);
  auto s = scrape();
  EXPECT_EQ(s.value("jobwatch_watch_rejected_total", {{"source", "file"}}), 2.0);
  EXPECT_EQ(s.value("jobwatch_watch_rejected_total", {{"source", "drop_dir"}}), 2.0);
  EXPECT_EQ(s.value("jobwatch_config_last_reload_successful"), 0.0);
  metrics_->configReloaded(true);
  EXPECT_EQ(scrape().value("jobwatch_config_last_reload_successful"), 1.0);
}

TEST_F(DaemonMetricsTest, TextExpositionHasTheSpecNamesAndTypes) {
  auto a = job("b2094b38-e432-44b6-a5d0-67bed07d5de1", "unknown");
  metrics_->jobWatched(a);
  transition(a, "queued");
  poll(a, PollResultKind::kOk);
  metrics_->hooksConfigured({"notify-done"});
  const std::string text =
      prometheus::TextSerializer().Serialize(metrics_->collectable()->Collect());
  for (const char* line : {
           "# TYPE jobwatch_jobs gauge",
           "# TYPE jobwatch_job_status gauge",
           "# TYPE jobwatch_polls_total counter",
           "# TYPE jobwatch_poll_duration_seconds histogram",
           "# TYPE jobwatch_status_changes_total counter",
           "# TYPE jobwatch_hook_runs_total counter",
           "# TYPE jobwatch_hook_duration_seconds histogram",
           "# TYPE jobwatch_hooks_pending gauge",
           "# TYPE jobwatch_watch_rejected_total counter",
           "# TYPE jobwatch_api_up gauge",
           "# TYPE jobwatch_last_successful_poll_timestamp_seconds gauge",
           "# TYPE jobwatch_config_last_reload_successful gauge",
           "# TYPE jobwatch_build_info gauge",
           "\njobwatch_job_status{job_id=\"b2094b38-e432-44b6-a5d0-67bed07d5de1\",status="
           "\"queued\","
           "type=\"extraction\"} 1\n",
           "\njobwatch_jobs{status=\"queued\"} 1\n",
           "\njobwatch_build_info{version=\"1.2.3\"} 1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

TEST_F(DaemonMetricsTest, TheCollectableOutlivesTheMetricsObject) {
  metrics_->jobWatched(job("a"));
  auto collectable = metrics_->collectable();
  EXPECT_EQ(collectable, metrics_->collectable());  // one object, registered once
  metrics_.reset();
  const Scrape s(*collectable);
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), 1u);
}

TEST_F(DaemonMetricsTest, ConcurrentEventsAndScrapesAddUp) {
  constexpr int kThreads = 4;
  constexpr int kJobsPerThread = 500;
  std::vector<std::jthread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kJobsPerThread; ++i) {
        auto j = job(std::to_string(t).append("-").append(std::to_string(i)));
        metrics_->jobWatched(j);
        poll(j, PollResultKind::kOk);
        transition(j, "completed");
        if (i % 2 == 0) metrics_->jobUnwatched(j.id, "completed");
        feed_->onHookFinished("h", HookResult::kSuccess, 1ms);
      }
    });
  }
  threads.emplace_back([this] {
    for (int i = 0; i < 50; ++i) (void)metrics_->collectable()->Collect();
  });
  threads.clear();  // joins
  const auto s = scrape();
  constexpr double kTotal = kThreads * kJobsPerThread;
  EXPECT_EQ(s.value("jobwatch_polls_total", {{"account", "default"}, {"result", "ok"}}), kTotal);
  EXPECT_EQ(s.value("jobwatch_status_changes_total", {{"from", "unknown"}, {"to", "completed"}}),
            kTotal);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "completed"}}), kTotal / 2);
  EXPECT_EQ(s.value("jobwatch_jobs", {{"status", "unknown"}}), 0.0);
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), static_cast<size_t>(kTotal / 2));
  EXPECT_EQ(s.value("jobwatch_hook_runs_total", {{"hook", "h"}, {"result", "success"}}), kTotal);
}

// Not a pass/fail benchmark (Debug and sanitizer builds are slow); it prints
// what one scrape of 100k per-job series costs (collect, serialize, free) so
// regressions are visible. Worst case: every job unfinished, so each also has
// an age series; typical: most jobs finished.
double scrapeMillis(const prometheus::Collectable& collectable, const char* what) {
  using Clock = std::chrono::steady_clock;
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const auto t0 = Clock::now();
  auto families = std::make_unique<std::vector<prometheus::MetricFamily>>(collectable.Collect());
  const auto t1 = Clock::now();
  const std::string text = prometheus::TextSerializer().Serialize(*families);
  const auto t2 = Clock::now();
  families.reset();
  const auto t3 = Clock::now();
  std::printf(
      "[ scrape ] %s: collect %.1f ms, serialize %.1f ms, free %.1f ms, total %.1f ms, "
      "%zu bytes\n",
      what, ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), ms(t3 - t0), text.size());
  return ms(t3 - t0);
}

TEST_F(DaemonMetricsTest, ScrapeCostAtOneHundredThousandJobs) {
  constexpr int kJobs = 100'000;
  std::vector<JobRecord> jobs;
  for (int i = 0; i < kJobs; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "b2094b38-e432-44b6-a5d0-%012d", i);
    jobs.push_back(job(id, "processing"));
    metrics_->jobWatched(jobs.back());
  }
  auto collectable = metrics_->collectable();
  scrapeMillis(*collectable, "100k jobs, all unfinished (worst case)");
  for (int i = 0; i < kJobs; ++i) {
    if (i % 10 == 0) continue;
    jobs[i].terminal = true;
    transition(jobs[i], "completed");
  }
  scrapeMillis(*collectable, "100k jobs, 90% finished");
  const Scrape s(*collectable);
  EXPECT_EQ(s.seriesCount("jobwatch_job_status"), static_cast<size_t>(kJobs));
  EXPECT_EQ(s.seriesCount("jobwatch_job_added_timestamp_seconds"), static_cast<size_t>(kJobs / 10));
}

}  // namespace
}  // namespace jobwatch::metrics
