// SPDX-License-Identifier: Apache-2.0
// TransitionLog: turns poll-engine events into the operator's log lines:
// one line per status change (job ID, type, PDF name, old -> new status,
// time since the job was added, the API's error for failed jobs). The first
// status learned for a job is logged as "job seen" rather than a change.
//
// Thread-safety: called on its lane's scheduler thread only.
#pragma once

#include <string>

#include "scheduler/poll_events.h"
#include "util/log.h"

namespace jobwatch::app {

class TransitionLog final : public scheduler::PollEvents {
 public:
  // Lines about jobs of an account other than "default" name it.
  explicit TransitionLog(Log& log, std::string account = "default")
      : log_(log), account_(std::move(account)) {}

  void onPollFinished(const scheduler::PollFinished& poll) override;
  void onTransition(const scheduler::StatusTransition& t) override;

 private:
  Log& log_;
  const std::string account_;
};

}  // namespace jobwatch::app
