// SPDX-License-Identifier: Apache-2.0
// Operator reports read from the state store alone (StateReader): what
// `status`, `jobs`, `show` and `hooks` show when the daemon is not running,
// and the store's half of the live answers (history, the hook ledger).
//
// Thread-safety: as the StateReader (any thread).
#pragma once

#include <optional>
#include <string>

#include "app/operator_report.h"
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
Result<HooksReport> hooksFromStore(state::StateReader& reader, bool failed_only, WallTime now);
Result<HookCounts> hookCountsFromStore(state::StateReader& reader);

}  // namespace jobwatch::app
