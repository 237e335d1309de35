// SPDX-License-Identifier: Apache-2.0
// SchedulerPool: the scheduler thread pool (SPEC "Accounts"). Each account
// has `threads` PollLanes - engine threads with their own libcurl multi
// handle - sharing the account's one AccountBudget and MetricsFeed. A job
// belongs to one lane: lane hash(id) % threads of its account (FNV-1a, so
// the same job lands on the same lane in every run; the shards' hash). Accounts are added and
// removed while the daemon runs (reload); a removed account's lanes stop.
//
// Readers on other threads (the operator's commands, the status page) take
// a snapshot of the lanes and reach each through post(), so a lane removed
// meanwhile lives until the last of them lets go.
//
// Thread-safety: addAccount/removeAccount on the control thread; every
// other method from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/lane_settings.h"
#include "app/metrics_feed.h"
#include "app/poll_lane.h"
#include "scheduler/account_budget.h"

namespace jobwatch::app {

using LanePtr = std::shared_ptr<PollLane>;

class SchedulerPool {
 public:
  SchedulerPool(LaneContext context, metrics::DaemonMetrics& metrics)
      : context_(context), metrics_(metrics) {}
  ~SchedulerPool();
  SchedulerPool(const SchedulerPool&) = delete;
  SchedulerPool& operator=(const SchedulerPool&) = delete;

  // Creates the account's lanes (not started), with a new budget and
  // metrics feed (an account removed and added again starts afresh).
  std::vector<LanePtr> addAccount(const LaneSettings& settings);
  // Takes the account's lanes out of the pool (the caller stops them).
  std::vector<LanePtr> removeAccount(const std::string& account);
  // SPEC "High availability": every account's budget takes `share` of its
  // rate and starts nothing past `may_poll_until` (account_budget.h); the
  // lanes wake to look again. Accounts added later get the same terms.
  void setFleetTerms(double share, SteadyTime may_poll_until);
  bool hasAccount(std::string_view account) const;
  int threadsOf(std::string_view account) const;  // 0: not configured
  std::vector<std::string> accounts() const;

  // The lane that owns `account`'s job `id`; null when the account is not
  // configured.
  LanePtr laneFor(std::string_view account, std::string_view id) const;
  // Every lane, accounts in the order they were added.
  std::vector<LanePtr> lanes() const;
  // The metrics feed of `account` (created by addAccount).
  MetricsFeed* metricsFeed(std::string_view account);

  // Runs `fn` on every lane's thread and waits for every answer until
  // `within` has passed; a lane that did not answer (stopped, failed,
  // busy) is nullopt in its place.
  template <typename T>
  std::vector<std::optional<T>> askEach(const std::function<T(PollLane&)>& fn,
                                        std::chrono::milliseconds within) const;
  // Queues `fn` on every lane's thread; false if some lane will never run it.
  [[nodiscard]] bool postEach(const std::function<void(PollLane&)>& fn) const;

  // The first lane whose thread ended on an unexpected error, by name.
  std::optional<std::string> failure() const;

 private:
  struct Account {
    std::string name;
    std::shared_ptr<scheduler::AccountBudget> budget;
    std::unique_ptr<MetricsFeed> metrics;
    std::vector<LanePtr> lanes;
  };

  LaneContext context_;
  metrics::DaemonMetrics& metrics_;
  mutable std::mutex mu_;
  std::vector<Account> accounts_;  // guarded by mu_
  // Feeds of removed accounts stay (events may still be on their way).
  std::vector<std::unique_ptr<MetricsFeed>> retired_feeds_;  // guarded by mu_
  std::uint64_t next_seed_ = 0x6a6f627761746368;
  double fleet_share_ = 1.0;                    // guarded by mu_
  SteadyTime fleet_until_ = SteadyTime::max();  // guarded by mu_
};

// Which lane of `threads` owns job `id`: the shards' stable hash
// (watchlist/shard.h), the same in every run.
size_t laneIndexOf(std::string_view id, int threads);

// Of `items`, those whose ID falls to lane `index` of `threads`.
template <typename T, typename IdOf>
std::vector<T> laneShare(const std::vector<T>& items, int threads, int index, IdOf id_of) {
  std::vector<T> share;
  for (const T& item : items) {
    if (laneIndexOf(id_of(item), threads) == static_cast<size_t>(index)) share.push_back(item);
  }
  return share;
}

template <typename T>
std::vector<std::optional<T>> SchedulerPool::askEach(const std::function<T(PollLane&)>& fn,
                                                     std::chrono::milliseconds within) const {
  const std::vector<LanePtr> all = lanes();
  std::vector<std::future<T>> answers;
  std::vector<bool> posted;
  for (const LanePtr& lane : all) {
    auto box = std::make_shared<std::promise<T>>();
    answers.push_back(box->get_future());
    PollLane* raw = lane.get();  // not the shared pointer: no cycle through its own queue
    posted.push_back(lane->post([box, fn, raw] { box->set_value(fn(*raw)); }));
  }
  const auto deadline = std::chrono::steady_clock::now() + within;
  std::vector<std::optional<T>> out(all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    if (!posted[i] || answers[i].wait_until(deadline) != std::future_status::ready) continue;
    try {
      out[i] = answers[i].get();
    } catch (const std::future_error&) {
      // The lane stopped with the question still queued.
    }
  }
  return out;
}

}  // namespace jobwatch::app
