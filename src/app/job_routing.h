// SPDX-License-Identifier: Apache-2.0
// Job routing (SPEC "Accounts"): which engine thread (PollLane) takes each
// watch entry. A job belongs to the account it was first watched under, for
// good: an entry that names another account for a job already bound is an
// error naming the place, and the job stays where it is. Otherwise the
// entry's account (the default one when it names none) decides, and the
// job's ID picks the lane among that account's threads. An entry naming an
// account that is not configured is refused. Within one batch the first
// entry of an ID binds it the same way.
//
// Thread-safety: pure functions over their arguments.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "app/scheduler_pool.h"
#include "watchlist/watch_file.h"

namespace jobwatch::app {

struct RoutedEntries {
  std::vector<LanePtr> lanes;                                // the pool's lanes, in order
  std::vector<std::vector<watchlist::WatchEntry>> per_lane;  // parallel to lanes
  std::vector<watchlist::WatchIssue> issues;                 // entries refused or kept back
};

// `bound[i]` is the account entries[i]'s job already belongs to ("" when
// none). Entries are moved out of `entries`; `file` names their file.
// `may_repeat`: one ID may come twice (several drop files at once; a watch
// file's parse has merged its duplicates already).
RoutedEntries routeEntries(std::vector<watchlist::WatchEntry>&& entries,
                           const std::vector<std::string>& bound, const SchedulerPool& pool,
                           const std::filesystem::path& file, bool may_repeat = false);

}  // namespace jobwatch::app
