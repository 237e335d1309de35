// SPDX-License-Identifier: Apache-2.0
// The one value type for a watched job, shared by every module that keeps
// or passes on a job: the engine's live record (scheduler::JobRecord), the
// stored row (state::StoredJob), the hook ledger's run (state::HookRun
// carries JobFacts and labels) and the metrics' per-job table. A module
// adds its own bookkeeping beside these fields (by deriving from Job),
// never a copy of them.
//
// Thread-safety: plain values.
#pragma once

#include <map>
#include <string>

#include "util/clock.h"

namespace jobwatch::status {

// What the API last said about a job, as it said it (empty when it never
// said, or said null). These are the fields hooks, logs and metrics show.
struct JobFacts {
  std::string status_raw;  // the API's word, as sent, e.g. "PROCESSING"
  std::string type;
  std::string pdf_name;
  std::string pdf_hash;
  std::string error;
  std::string created_at;
  std::string updated_at;
  bool operator==(const JobFacts&) const = default;
};

// Where the daemon got a job. Jobs from the watch file leave when removed
// from it; drop-directory jobs stay until terminal and forgotten.
enum class JobSource { kWatchFile, kDropDir };

using Labels = std::map<std::string, std::string>;

// A watched job: who it is, where it came from, its canonical status and
// the API's facts.
struct Job {
  std::string id;
  Labels labels;
  std::string status{"unknown"};  // canonical lowercase
  bool terminal = false;
  JobSource source = JobSource::kWatchFile;
  JobFacts facts;
  WallTime added_at{};
  WallTime terminal_at{};  // when it became terminal; the epoch while it is not
  bool overdue = false;    // raised the `overdue` event (SPEC "Overdue jobs"): once per job
};

}  // namespace jobwatch::status
