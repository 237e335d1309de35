// SPDX-License-Identifier: Apache-2.0
#include "app/scheduler_pool.h"

#include <algorithm>

#include "util/account_name.h"
#include "watchlist/shard.h"

namespace jobwatch::app {

size_t laneIndexOf(std::string_view id, int threads) {
  if (threads <= 1) return 0;
  return static_cast<size_t>(watchlist::shardHash(id) % static_cast<std::uint64_t>(threads));
}

SchedulerPool::~SchedulerPool() {
  for (const LanePtr& lane : lanes()) lane->stop();
}

std::vector<LanePtr> SchedulerPool::addAccount(const LaneSettings& settings) {
  Account account;
  account.name = settings.account;
  account.budget = std::make_shared<scheduler::AccountBudget>(settings.schedule.rate_per_second,
                                                              context_.clock.now());
  account.metrics = std::make_unique<MetricsFeed>(metrics_, settings.account);
  {
    std::lock_guard lock(mu_);
    account.budget->setFleetTerms(fleet_share_, fleet_until_, context_.clock.now());
  }
  for (int i = 0; i < settings.threads; ++i) {
    account.lanes.push_back(std::make_shared<PollLane>(settings, i, account.budget,
                                                       *account.metrics, context_, next_seed_++));
  }
  std::vector<LanePtr> created = account.lanes;
  std::lock_guard lock(mu_);
  accounts_.push_back(std::move(account));
  return created;
}

std::vector<LanePtr> SchedulerPool::removeAccount(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(accounts_.begin(), accounts_.end(),
                         [&](const Account& a) { return a.name == name; });
  if (it == accounts_.end()) return {};
  std::vector<LanePtr> removed = std::move(it->lanes);
  retired_feeds_.push_back(std::move(it->metrics));
  accounts_.erase(it);
  return removed;
}

void SchedulerPool::setFleetTerms(double share, SteadyTime may_poll_until) {
  std::vector<LanePtr> all;
  {
    std::lock_guard lock(mu_);
    fleet_share_ = share;
    fleet_until_ = may_poll_until;
    for (const Account& a : accounts_) {
      a.budget->setFleetTerms(share, may_poll_until, context_.clock.now());
      all.insert(all.end(), a.lanes.begin(), a.lanes.end());
    }
  }
  for (const LanePtr& lane : all) (void)lane->post([] {});  // wakes its loop to look again
}

bool SchedulerPool::hasAccount(std::string_view name) const { return threadsOf(name) > 0; }

int SchedulerPool::threadsOf(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const Account& a : accounts_) {
    if (a.name == name) return static_cast<int>(a.lanes.size());
  }
  return 0;
}

std::vector<std::string> SchedulerPool::accounts() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const Account& a : accounts_) names.push_back(a.name);
  return names;
}

LanePtr SchedulerPool::laneFor(std::string_view name, std::string_view id) const {
  std::lock_guard lock(mu_);
  for (const Account& a : accounts_) {
    if (a.name == name) return a.lanes[laneIndexOf(id, static_cast<int>(a.lanes.size()))];
  }
  return nullptr;
}

std::vector<LanePtr> SchedulerPool::lanes() const {
  std::lock_guard lock(mu_);
  std::vector<LanePtr> all;
  for (const Account& a : accounts_) all.insert(all.end(), a.lanes.begin(), a.lanes.end());
  return all;
}

MetricsFeed* SchedulerPool::metricsFeed(std::string_view name) {
  std::lock_guard lock(mu_);
  for (const Account& a : accounts_) {
    if (a.name == name) return a.metrics.get();
  }
  return nullptr;
}

bool SchedulerPool::postEach(const std::function<void(PollLane&)>& fn) const {
  bool all = true;
  for (const LanePtr& lane : lanes()) {
    PollLane* raw = lane.get();  // not the shared pointer: no cycle through its own queue
    all = lane->post([fn, raw] { fn(*raw); }) && all;
  }
  return all;
}

std::optional<std::string> SchedulerPool::failure() const {
  for (const LanePtr& lane : lanes()) {
    if (lane->failed()) {
      return lane->account() == kDefaultAccount && lane->index() == 0
                 ? std::string("scheduler")
                 : "scheduler (account " + lane->account() + ", thread " +
                       std::to_string(lane->index() + 1) + ")";
    }
  }
  return std::nullopt;
}

}  // namespace jobwatch::app
