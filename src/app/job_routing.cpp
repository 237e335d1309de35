// SPDX-License-Identifier: Apache-2.0
#include "app/job_routing.h"

#include <unordered_map>

#include "util/account_name.h"

namespace jobwatch::app {

RoutedEntries routeEntries(std::vector<watchlist::WatchEntry>&& entries,
                           const std::vector<std::string>& bound, const SchedulerPool& pool,
                           const std::filesystem::path& file, bool may_repeat) {
  RoutedEntries out;
  out.lanes = pool.lanes();
  out.per_lane.resize(out.lanes.size());
  if (out.per_lane.size() == 1) out.per_lane.front().reserve(entries.size());
  std::unordered_map<const PollLane*, size_t> position;
  for (size_t i = 0; i < out.lanes.size(); ++i) position[out.lanes[i].get()] = i;
  // A batch may hold one ID twice (drop files taken together): the first
  // entry's account binds the later ones.
  std::unordered_map<std::string, std::string> first_named;
  for (size_t i = 0; i < entries.size(); ++i) {
    watchlist::WatchEntry& entry = entries[i];
    const std::string named = entry.account.empty() ? std::string(kDefaultAccount) : entry.account;
    std::string holder = i < bound.size() ? bound[i] : std::string();
    if (holder.empty() && may_repeat) {
      auto [first, inserted] = first_named.try_emplace(entry.id, named);
      if (!inserted) holder = first->second;
    }
    if (!holder.empty() && holder != named) {
      std::string why = "job ";
      why += entry.id;
      why += " belongs to account ";
      why += holder;
      why += "; this entry names account ";
      why += named;
      why += ": it stays with ";
      why += holder;
      why += " (a job cannot change account)";
      out.issues.push_back({file, entry.line, std::move(why)});
    }
    const std::string account = holder.empty() ? named : holder;
    const LanePtr lane = pool.laneFor(account, entry.id);
    if (lane == nullptr) {
      // A job bound to an account no longer configured was reported when
      // that account went; a new one naming an unknown account is refused.
      if (holder.empty()) {
        std::string why = "account ";
        why += account;
        why += " is not configured (job ";
        why += entry.id;
        why += ")";
        out.issues.push_back({file, entry.line, std::move(why)});
      }
      continue;
    }
    auto it = position.find(lane.get());
    if (it == position.end()) continue;  // added after the snapshot: never, on the control thread
    entry.account = account;
    out.per_lane[it->second].push_back(std::move(entry));
  }
  return out;
}

}  // namespace jobwatch::app
