// SPDX-License-Identifier: Apache-2.0
#include "app/job_routing.h"

#include <unordered_map>

namespace jobwatch::app {

RoutedEntries routeEntries(std::vector<watchlist::WatchEntry>&& entries,
                           const std::vector<std::string>& bound, const SchedulerPool& pool,
                           const std::filesystem::path& file) {
  RoutedEntries out;
  out.lanes = pool.lanes();
  out.per_lane.resize(out.lanes.size());
  std::unordered_map<const PollLane*, size_t> position;
  for (size_t i = 0; i < out.lanes.size(); ++i) position[out.lanes[i].get()] = i;
  for (size_t i = 0; i < entries.size(); ++i) {
    watchlist::WatchEntry& entry = entries[i];
    const std::string named = entry.account.empty() ? "default" : entry.account;
    const std::string& holder = i < bound.size() ? bound[i] : std::string();
    if (!holder.empty() && holder != named) {
      out.issues.push_back({file, entry.line,
                            "job " + entry.id + " belongs to account " + holder +
                                "; this entry names account " + named + ": it stays with " +
                                holder + " (a job cannot change account)"});
    }
    const std::string& account = holder.empty() ? named : holder;
    const LanePtr lane = pool.laneFor(account, entry.id);
    if (lane == nullptr) {
      // A job bound to an account no longer configured was reported when
      // that account went; a new one naming an unknown account is refused.
      if (holder.empty()) {
        out.issues.push_back(
            {file, entry.line, "account " + account + " is not configured (job " + entry.id + ")"});
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
