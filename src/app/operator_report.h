// SPDX-License-Identifier: Apache-2.0
// What the operator's commands (and the status page) show: plain structs,
// filled either live by the running daemon (Daemon::statusReport() etc.,
// answered over the control socket) or from the state store when the
// daemon is not running (operator_source.h), and rendered as JSON
// (operator_json.h) or as human tables (operator_text.h).
//
// Every string that came from the API or a hook is untrusted: renderers
// escape it for their medium.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "state/state_store.h"
#include "status/job_facts.h"
#include "util/clock.h"

namespace jobwatch::app {

// One API account (SPEC "Accounts"): its lanes' figures summed.
struct AccountStatus {
  std::string name = "default";
  bool api_up = true;
  bool auth_failing = false;
  double budget_per_minute = 0;  // 0: unlimited
  size_t requests_last_minute = 0;
  std::optional<WallTime> last_success;  // last poll the API answered
  bool polled = false;                   // a poll has finished since start

  // The budget as shown: whole requests per minute, or "unlimited".
  std::string budgetText() const {
    return budget_per_minute > 0 ? std::to_string(std::llround(budget_per_minute)) : "unlimited";
  }
};

struct HookCounts {
  size_t pending = 0;
  size_t running = 0;
  size_t failed = 0;  // permanently
};

// A live member of the fleet (SPEC "High availability"), as this
// instance last saw it.
struct InstanceStatus {
  std::string instance;
  size_t jobs_held = 0;
  WallTime started{};
  WallTime heartbeat{};
  bool self = false;
};

struct StatusReport {
  bool live = false;  // from the running daemon; false: read from the state store
  std::string version;
  std::optional<std::chrono::milliseconds> uptime;  // live only
  std::optional<WallTime> started_at;               // live only
  // Live: the scheduler answered within OperatorView::kSchedulerWait; the
  // fields it fills (accounts, jobs, known_statuses) are empty otherwise.
  bool scheduler_answered = false;
  std::vector<AccountStatus> accounts;  // live only
  // Live: the configured status vocabulary (canonical words).
  std::vector<std::string> known_statuses;
  std::map<std::string, size_t> jobs_by_status;
  size_t jobs = 0;
  HookCounts hooks;
  std::optional<WallTime> last_reload;  // live only
  bool last_reload_ok = true;
  // state.backend postgresql: the fleet's instances (live: as this instance
  // last saw them, and jobs and jobs_by_status above count this instance's
  // jobs only; from the store: every row not reaped yet, and every job).
  bool fleet = false;
  std::vector<InstanceStatus> instances;
  // Why the daemon is degraded (API down, auth failing, state writes
  // failing, scheduler not answering); empty: healthy.
  std::vector<std::string> problems;
  bool degraded() const { return !problems.empty(); }
};

// One line of `jobs`.
struct JobRow {
  std::string id;
  std::string account = "default";
  std::string status;
  std::string type;
  std::string pdf_name;
  status::JobSource source = status::JobSource::kWatchFile;
  WallTime added_at{};
  std::optional<WallTime> last_poll;  // live only
};

struct JobsFilter {
  std::vector<std::string> statuses;  // empty: all
  std::string account;                // empty: all
  // Live only: 0, every match; else only the newest `newest` matches (by
  // added_at, then ID), and JobsReport::matching counts them all.
  size_t newest = 0;
  bool matches(const std::string& status, const std::string& account_name) const;
};

struct JobsReport {
  bool live = false;
  WallTime now{};
  std::vector<JobRow> jobs;  // by ID
  size_t matching = 0;       // jobs that matched (more than jobs.size() when capped)
};

// `show`: one job with its history.
struct JobDetail {
  bool live = false;
  WallTime now{};
  status::Job job;
  std::string account = "default";
  std::optional<WallTime> last_poll;  // live only
  int consecutive_errors = 0;
  std::vector<state::TransitionEntry> transitions;  // oldest first
  std::vector<state::HookRun> runs;                 // the ledger's rows for the job
  std::vector<state::HookAttempt> attempts;         // oldest first
};

// `hooks`: the ledger's unfinished and failed runs.
struct HooksReport {
  bool live = false;
  WallTime now{};
  std::vector<state::HookRun> runs;  // pending, running, then failed
  bool truncated = false;            // more than kMaxHookRows in a state
};

inline constexpr size_t kMaxHookRows = 1000;  // per state, in `hooks`
// Recent transitions across jobs, for the status page.
inline constexpr size_t kRecentTransitions = 50;

// One of the recent transitions: the job's PDF name when it is still
// watched (empty otherwise).
struct RecentTransition {
  state::TransitionEntry entry;
  std::string pdf_name;
};

std::string_view sourceName(status::JobSource source);
std::string_view runStateName(state::HookRunState state);

}  // namespace jobwatch::app
