// SPDX-License-Identifier: Apache-2.0
// HookSupervisor: the hook runner's thread that runs the processes. It
// starts the runs the ledger thread hands over (SPEC environment, the job's
// JSON on stdin), logs their output line by line with hook name and job ID,
// enforces each run's timeout (SIGTERM to the process group, SIGKILL after
// kill_grace), reaps them, measures each run from spawn to reap, decides
// the outcome (success, retry after backoff, failed) and hands it back.
//
// It never calls the store: its only waits are poll() over the children's
// descriptors and the hand-over eventfd, so timeouts, output draining and
// reaping go on whatever the disk does.
//
// On stop, running hooks get drain_timeout to finish; then they are killed
// and released (pending again, so the next start runs them again). Every
// child is reaped, also when the thread ends by an error.
//
// Thread-safety: run() (or drain()) on one thread at a time; the
// RunHandoff, clock, log and events must outlive the supervisor.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "config/config.h"
#include "hooks/child_process.h"
#include "hooks/hook_events.h"
#include "hooks/hook_outcome.h"
#include "hooks/retry_policy.h"
#include "hooks/run_handoff.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::hooks {

struct SupervisorOptions {
  std::chrono::milliseconds kill_grace{5000};      // SIGTERM -> SIGKILL
  std::chrono::milliseconds drain_timeout{20000};  // on stop
  std::chrono::milliseconds retry_base{1000};      // backoff base for retries
  std::chrono::milliseconds retry_cap{300000};
  std::string path_env;  // PATH given to hooks
  std::string lang_env;  // LANG given to hooks
};

class HookSupervisor {
 public:
  HookSupervisor(SupervisorOptions options, RunHandoff& handoff, const Clock& clock, Log& log,
                 HookEvents* events, std::atomic<size_t>& running);
  ~HookSupervisor();  // kills and reaps whatever is left
  HookSupervisor(const HookSupervisor&) = delete;
  HookSupervisor& operator=(const HookSupervisor&) = delete;

  // The thread body: supervises until `stop`, then drains. An unexpected
  // error (an exception) is logged once and marks the handoff failed; the
  // thread then kills and reaps every child, releases their runs and ends.
  void run(std::stop_token stop);

 private:
  // A run whose process is alive (or not yet reaped).
  struct Active {
    state::HookRun run;
    config::HookDefinition def;  // as it was when the run started
    std::unique_ptr<ChildProcess> child;
    SteadyTime started{};
    SteadyTime term_at{};
    std::optional<SteadyTime> kill_at;  // set once SIGTERM was sent, until SIGKILL is
    bool timed_out = false;
    std::string last_stderr;  // for the failure message
    WallTime started_wall{};  // for the attempt's record
    OutputTail tail{state::kAttemptOutputLines, state::kAttemptOutputBytes};
  };

  void supervise(std::stop_token stop);
  void startHandedOver();
  void startRun(const state::HookRun& run);
  void serviceChildren();
  void enforceTimeout(Active& a, SteadyTime now);
  void logLines(Active& a, std::vector<OutputLine>& lines);
  void finished(Active& a, const ExitInfo& exit);
  void conclude(const state::HookRun& run, int retries, HookResult result, const std::string& error,
                std::chrono::duration<double> duration, LogFields details,
                state::HookAttempt attempt);
  SteadyTime nextWake(SteadyTime limit) const;
  void waitFor(std::chrono::milliseconds wait);
  void drain();
  void killRemaining();
  void abandon() noexcept;

  const SupervisorOptions options_;
  RunHandoff& handoff_;
  const Clock& clock_;
  Log& log_;
  HookEvents* const events_;
  std::atomic<size_t>& running_;
  std::deque<state::HookRun> to_start_;  // taken from the handoff, not started yet
  std::vector<Active> active_;
  RetryPolicy retry_;
};

}  // namespace jobwatch::hooks
