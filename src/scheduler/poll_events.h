// SPDX-License-Identifier: Apache-2.0
// What the poll engine tells the rest of the daemon. One event flows one
// way: poll result -> status transition -> {log line, state, metrics, hooks}.
// Implementations are called on the scheduler thread and must not block on
// slow work (hand it to their own queue instead).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/poll_result.h"
#include "api/result_fetch.h"
#include "state/state_store.h"
#include "status/job_facts.h"
#include "util/clock.h"

namespace jobwatch::scheduler {

// A job as the engine knows it: the shared job value (status/job_facts.h)
// plus the engine's poll bookkeeping.
struct JobRecord : status::Job {
  bool in_flight = false;
  int consecutive_errors = 0;
  int consecutive_not_found = 0;
  api::PollResultKind last_result = api::PollResultKind::kOk;
  bool polled = false;      // at least one poll finished (any result)
  WallTime last_poll_at{};  // when the last poll finished (any result); the epoch before
};

struct PollFinished {
  const JobRecord& job;
  api::PollResultKind result;
  long http_status;
  std::chrono::microseconds elapsed;
  std::string_view detail;
};

struct StatusTransition {
  const JobRecord& job;  // already updated to the new status
  std::string from;
  std::string to;
  std::string_view body;  // the API body that caused it; empty for our own statuses
  WallTime at;
  std::chrono::milliseconds since_added;
};

// A job's result changed (SPEC "Results"): a fetch finished (`fetch` says
// how; none when the result was given up without a request), and
// `record` is the result's new state, to be stored as it is. `sent`: the
// fetch sent a request (false when its file could not even be created).
struct ResultUpdate {
  const state::ResultRecord& record;
  std::optional<api::ResultFetchKind> fetch;
  long http_status = 0;
  std::chrono::microseconds elapsed{0};
  std::string_view detail;
  bool sent = true;
};

class PollEvents {
 public:
  virtual ~PollEvents() = default;
  virtual void onPollFinished(const PollFinished& poll) = 0;
  virtual void onTransition(const StatusTransition& transition) = 0;
  // A job starts or stops being watched (added, restored, removed, forgotten).
  virtual void onJobWatched(const JobRecord& /*job*/) {}
  virtual void onJobUnwatched(const JobRecord& /*job*/) {}
  virtual void onResultUpdate(const ResultUpdate& /*update*/) {}
  // A job still unfinished past its overdue limit; job.overdue is already
  // set (and stays: once per job). Not a status: polling goes on.
  virtual void onOverdue(const JobRecord& /*job*/) {}
};

// Passes every event to each listener, in order.
class PollEventsFanout final : public PollEvents {
 public:
  explicit PollEventsFanout(std::vector<PollEvents*> listeners)
      : listeners_(std::move(listeners)) {}
  void onPollFinished(const PollFinished& poll) override {
    for (auto* l : listeners_) l->onPollFinished(poll);
  }
  void onTransition(const StatusTransition& transition) override {
    for (auto* l : listeners_) l->onTransition(transition);
  }
  void onJobWatched(const JobRecord& job) override {
    for (auto* l : listeners_) l->onJobWatched(job);
  }
  void onJobUnwatched(const JobRecord& job) override {
    for (auto* l : listeners_) l->onJobUnwatched(job);
  }
  void onResultUpdate(const ResultUpdate& update) override {
    for (auto* l : listeners_) l->onResultUpdate(update);
  }
  void onOverdue(const JobRecord& job) override {
    for (auto* l : listeners_) l->onOverdue(job);
  }

 private:
  std::vector<PollEvents*> listeners_;
};

}  // namespace jobwatch::scheduler
