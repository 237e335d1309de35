// SPDX-License-Identifier: Apache-2.0
// Operator reports read from the state store alone (StateReader): what
// `status`, `jobs`, `show` and `hooks` show when the daemon is not running,
// and the store's half of the live answers (history, the hook ledger).
//
// NewestJobs picks the rows of a capped live `jobs` answer.
//
// Thread-safety: as the StateReader (any thread); NewestJobs is a plain
// builder.
#pragma once

#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "app/operator_report.h"
#include "scheduler/poll_events.h"
#include "state/state_reader.h"
#include "util/result.h"

namespace jobwatch::app {

Result<StatusReport> statusFromStore(state::StateReader& reader);
Result<JobsReport> jobsFromStore(state::StateReader& reader, const JobsFilter& filter,
                                 WallTime now);
// nullopt: no such job.
Result<std::optional<JobDetail>> jobFromStore(state::StateReader& reader, const std::string& id,
                                              WallTime now);
// The job's history and ledger rows into `detail` (its job already set).
Status addHistory(state::StateReader& reader, JobDetail& detail);
// At most `limit` runs per state (newest change first); truncated says so.
Result<HooksReport> hooksFromStore(state::StateReader& reader, bool failed_only, WallTime now,
                                   size_t limit = kMaxHookRows);
Result<HookCounts> hookCountsFromStore(state::StateReader& reader);

// Picks the newest `cap` jobs (by added_at, then ID) among those matching
// `filter`, without copying the others. Offered jobs must stay valid until
// take().
class NewestJobs {
 public:
  NewestJobs(const JobsFilter& filter, size_t cap) : filter_(filter), cap_(cap) {}
  void offer(const scheduler::JobRecord& job, const std::string& account);
  // The chosen jobs, newest first.
  std::vector<const scheduler::JobRecord*> take();
  size_t matching() const { return matching_; }

 private:
  struct Newer {
    bool operator()(const scheduler::JobRecord* a, const scheduler::JobRecord* b) const;
  };
  const JobsFilter& filter_;
  size_t cap_;
  size_t matching_ = 0;
  // Min-heap by age: the top is the oldest job kept.
  std::priority_queue<const scheduler::JobRecord*, std::vector<const scheduler::JobRecord*>, Newer>
      kept_;
};

}  // namespace jobwatch::app
