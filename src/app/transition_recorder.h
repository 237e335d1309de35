// SPDX-License-Identifier: Apache-2.0
// TransitionRecorder: makes status changes durable. For each transition it
// enqueues, as one write, the job's new state and a pending ledger row for
// every hook the transition triggers; the hook runner only ever starts runs
// once that write is committed. When a hook with `with_result` is among
// them and the job completed, the same write records the job's result as
// pending and `want_result` asks the engine to fetch it; every change of a
// result (onResultUpdate) is written as it is.
//
// Thread-safety: onTransition and setHooks run on the scheduler thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "scheduler/poll_events.h"
#include "state/state_store.h"
#include "state/state_writer.h"

namespace jobwatch::app {

class TransitionRecorder final : public scheduler::PollEvents {
 public:
  // `account`: the account whose jobs this recorder sees (SPEC
  // "Accounts"); written on every job row (kept by the store from the
  // job's first row), run and wanted result it records.
  TransitionRecorder(state::StateWriter& writer, std::vector<config::HookDefinition> hooks,
                     std::string account = "default")
      : writer_(writer), hooks_(std::move(hooks)), account_(std::move(account)) {}

  void onPollFinished(const scheduler::PollFinished&) override {}
  void onTransition(const scheduler::StatusTransition& t) override;
  void onResultUpdate(const scheduler::ResultUpdate& update) override;
  // Remembers the job as overdue and records the runs of hooks `on:
  // [overdue]` (ledger status "overdue": once per job, across restarts).
  void onOverdue(const scheduler::JobRecord& job) override;
  void setHooks(std::vector<config::HookDefinition> hooks) { hooks_ = std::move(hooks); }
  // Called (on the scheduler thread) with each result newly wanted.
  void setResultWanted(std::function<void(const state::ResultRecord&)> want_result) {
    want_result_ = std::move(want_result);
  }

 private:
  bool wantsResult(const std::string& hook) const;

  state::StateWriter& writer_;
  std::vector<config::HookDefinition> hooks_;
  std::function<void(const state::ResultRecord&)> want_result_;
  std::string account_;
};

}  // namespace jobwatch::app
