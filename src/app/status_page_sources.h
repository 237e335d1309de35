// SPDX-License-Identifier: Apache-2.0
// Where the status page's data comes from besides the StatusBoard: the
// poll engine's jobs (read on the scheduler thread) and the hook ledger
// (read through the state store). Each source is one small function, so
// the `jobwatchd status/jobs/hooks` commands can share them.
//
// Thread-safety: snapshotJobs() on the scheduler thread only (it reads the
// engine); readHookLedger() on any thread (the store serialises).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "app/status_page.h"
#include "scheduler/poll_engine.h"
#include "state/state_store.h"

namespace jobwatch::app {

// Rows the jobs table shows at most; failed hook runs listed at most.
constexpr size_t kStatusPageRows = 500;
constexpr size_t kStatusPageFailedHooks = 50;

struct JobsSnapshot {
  std::map<std::string, size_t> status_counts;
  size_t job_count = 0;
  std::vector<StatusPageJob> rows;  // newest first, at most the cap
  size_t matching = 0;
};

JobsSnapshot snapshotJobs(const scheduler::PollEngine& engine, const PageQuery& query, size_t cap);

// The ledger's pending/running/failed counts and its most recent failed
// runs into `model`; what cannot be read is left unset and noted.
void readHookLedger(state::StateStore& store, size_t failed_limit, StatusPageModel& model);

}  // namespace jobwatch::app
