// SPDX-License-Identifier: Apache-2.0
// The status page served at `GET /` on metrics.listen (SPEC: Operator
// interface): plain structs in, one self-contained HTML document out. No
// scripts and no external assets (inline CSS; it refreshes itself with a
// <meta http-equiv="refresh">); every text it shows is HTML-escaped, and
// every value put in a link is percent-encoded, because job fields and
// status words come from the API, hook output from hooks and account names
// from the configuration. It shows what `jobwatchd status` reports (the
// same StatusReport: health and its problems, every account, the fleet's
// instances) and then the jobs, transitions and failed hooks. The jobs table is
// capped (the model carries at most the rows to show plus how many
// matched); status_page_sources.h fills the model from the operator's
// reports.
//
// Thread-safety: pure functions; no shared state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "app/operator_report.h"
#include "metrics/metrics_server.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/result.h"

namespace jobwatch::app {

// What the page was asked for: `?status=S` (repeatable; none: every job).
struct PageQuery {
  std::set<std::string> statuses;
};

// Parses the query string (without '?'). Bad input (an unknown parameter,
// bad percent-encoding, an empty, overlong or repeated-too-often value) is
// an error saying what is wrong, for a 400 answer.
[[nodiscard]] Result<PageQuery> parsePageQuery(std::string_view query);

struct StatusPageJob {
  std::string id;
  std::string status;
  std::string type;
  std::string pdf_name;
  WallTime added_at{};
  WallTime last_poll_at{};  // the epoch: never polled
};

struct StatusPageTransition {
  WallTime at{};
  std::string job_id;
  std::string from;
  std::string to;
  std::string pdf_name;
};

struct StatusPageFailedHook {
  std::int64_t run_id = 0;
  std::string job_id;
  std::string hook;
  std::string status;  // the status whose entry triggered the run
  int attempts = 0;
  std::string last_error;
};

struct StatusPageModel {
  std::string version;
  WallTime now{};
  WallTime started_at{};
  // From the status report, as `jobwatchd status` shows them: one row per
  // account (none when the scheduler did not answer), why the daemon is
  // degraded (nullopt: no report, the scheduler is not running; empty:
  // healthy), and with state.backend postgresql the fleet's instances.
  std::vector<AccountStatus> accounts;
  std::optional<std::vector<std::string>> problems;
  bool fleet = false;
  std::vector<InstanceStatus> instances;
  // Jobs per canonical status (as the engine counts them) and in all;
  // nullopt counts when the scheduler did not answer in time.
  std::optional<std::map<std::string, size_t>> status_counts;
  size_t job_count = 0;
  // Hook ledger counts; nullopt when the state store could not be read.
  std::optional<size_t> hooks_pending;
  std::optional<size_t> hooks_running;
  std::optional<size_t> hooks_failed;
  // The last configuration reload (SIGHUP), if any.
  std::optional<WallTime> last_reload_at;
  bool last_reload_ok = true;
  // Statuses the filter offers besides those in status_counts (the
  // configured vocabulary).
  std::vector<std::string> known_statuses;

  PageQuery query;
  std::vector<StatusPageJob> jobs;  // matching rows to show, newest first
  size_t jobs_matching = 0;         // rows that matched; more than jobs.size() when capped
  std::vector<StatusPageTransition> transitions;   // newest first
  std::vector<StatusPageFailedHook> failed_hooks;  // most recent first
  // Said at the top, e.g. "the scheduler did not answer within 2s".
  std::vector<std::string> notes;
  Millis refresh_every{10000};
};

// The whole HTML document.
std::string renderStatusPage(const StatusPageModel& model);
// A small HTML page for a 4xx/5xx answer, with a link back to the page.
std::string renderErrorPage(int status, std::string_view message);

// Statuses a filter may name: the known vocabulary and any status a job
// has now. A query naming another one is answered 400.
std::optional<std::string> unknownFilterStatus(const StatusPageModel& model);

// Makes the answer for `query`: 400 for a bad query; else `model(query)`,
// 400 when the filter names a status nobody has or knows; else the page.
metrics::PageResponse serveStatusPage(
    std::string_view query, const std::function<StatusPageModel(const PageQuery&)>& model);

}  // namespace jobwatch::app
