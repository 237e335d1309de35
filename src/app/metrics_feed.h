// SPDX-License-Identifier: Apache-2.0
// MetricsFeed: the one path from the engine's and the hook runner's events
// to the metrics (metrics/ is a leaf that knows neither). It also remembers
// how many hook runs are pending, for the service manager's STATUS= line.
//
// Thread-safety: poll events arrive on the engine threads of its account (one
// feed per account, shared by its lanes), hook events on the hook runner's two
// threads (finished runs from its supervisor, pending
// counts from its ledger thread), possibly at once; DaemonMetrics is
// thread-safe; hooksPending() may be read from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "hooks/hook_runner.h"
#include "metrics/daemon_metrics.h"
#include "scheduler/poll_events.h"

namespace jobwatch::app {

// Every label of polls_total and hook_runs_total, in the SPEC's order.
std::vector<std::string> pollResultLabels();
std::vector<std::string> hookResultLabels();

class MetricsFeed final : public scheduler::PollEvents, public hooks::HookEvents {
 public:
  // Poll-side events (polls, result fetches, overdue jobs) count under
  // `account`: the account of the engine that reports to this feed.
  explicit MetricsFeed(metrics::DaemonMetrics& metrics, std::string account = "default")
      : metrics_(metrics), account_(std::move(account)) {}

  void onPollFinished(const scheduler::PollFinished& poll) override;
  void onTransition(const scheduler::StatusTransition& transition) override;
  void onJobWatched(const scheduler::JobRecord& job) override {
    metrics_.jobWatched(job);
    if (job.overdue && !job.terminal) addOverdue(1);
  }
  void onJobUnwatched(const scheduler::JobRecord& job) override {
    metrics_.jobUnwatched(job.id, job.status);
    if (job.overdue && !job.terminal) addOverdue(-1);
  }
  void onResultUpdate(const scheduler::ResultUpdate& update) override {
    if (update.fetch) {
      metrics_.resultFetched(account_, api::resultFetchLabel(*update.fetch), update.sent);
    }
    if (update.record.state == state::ResultState::kGaveUp) metrics_.resultGivenUp(account_);
  }
  void onOverdue(const scheduler::JobRecord&) override { addOverdue(1); }

  void onHookFinished(const std::string& hook, hooks::HookResult result,
                      std::chrono::duration<double> duration) override;
  void onPendingChanged(size_t pending) override;

  size_t hooksPending() const { return pending_.load(); }

 private:
  metrics::DaemonMetrics& metrics_;
  const std::string account_;
  std::atomic<size_t> pending_{0};
  // Unfinished overdue jobs of the account, counted by all its engine
  // threads (the lanes of one account share this feed).
  std::int64_t overdue_ = 0;  // guarded by overdue_mu_
  std::mutex overdue_mu_;     // orders the gauge's updates with the count's
  void addOverdue(std::int64_t delta) {
    std::lock_guard lock(overdue_mu_);
    const std::int64_t n = overdue_ += delta;
    metrics_.jobsOverdue(account_, static_cast<size_t>(std::max<std::int64_t>(0, n)));
  }
};

}  // namespace jobwatch::app
