// SPDX-License-Identifier: Apache-2.0
// Where the status page's data comes from: the operator's own reports
// (OperatorView: status, the newest matching jobs, recent transitions,
// failed hooks), the same answers `jobwatchd status/jobs/hooks` give, and
// how they become a StatusPageModel.
//
// StatusPageSource paces the page's reads of the scheduler: one page at a
// time, at least kReadGap apart, so however many pages are asked for they
// take a bounded share of the scheduler thread (at 100,000 jobs a job read
// holds it for ~5-7 ms optimised, ~60-200 ms in a Debug build). A page
// that cannot get its turn within `within` says so and shows no job list.
//
// Thread-safety: StatusPageSource::read() from any thread but the
// scheduler's (the metrics server's); the add*() functions are pure.
#pragma once

#include <chrono>
#include <mutex>
#include <vector>

#include "app/operator_report.h"
#include "app/status_page.h"
#include "util/clock.h"
#include "util/duration.h"

namespace jobwatch::app {

class OperatorView;

// Rows the jobs table shows at most; failed hook runs listed at most.
constexpr size_t kStatusPageRows = 500;
constexpr size_t kStatusPageFailedHooks = 50;

class StatusPageSource {
 public:
  static constexpr Millis kReadGap{500};

  explicit StatusPageSource(const Clock& clock) : clock_(clock) {}

  // The model for `query`. `view` null: the scheduler is not running (yet,
  // or any more); the page then says so.
  StatusPageModel read(OperatorView* view, const PageQuery& query, Millis within);

 private:
  const Clock& clock_;
  std::timed_mutex turn_;
  std::chrono::steady_clock::time_point next_read_{};  // guarded by turn_
};

// The summary: start, health (the problems), every account, the fleet's
// instances, last reload, the vocabulary, hook counts; job counts only
// when the scheduler answered.
void addStatus(const StatusReport& report, StatusPageModel& model);
// The table's rows, newest first, and how many matched.
void addJobs(JobsReport report, StatusPageModel& model);
void addTransitions(std::vector<RecentTransition> transitions, StatusPageModel& model);
void addFailedHooks(const HooksReport& report, StatusPageModel& model);

}  // namespace jobwatch::app
