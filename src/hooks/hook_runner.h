// SPDX-License-Identifier: Apache-2.0
// HookRunner: runs hook commands from the ledger, at most
// hooks.max_concurrent at a time, on two threads of its own:
//
// - the ledger thread (LedgerClient) is the only one that calls the store:
//   it claims due pending runs (committed as running before anything is
//   spawned), records outcomes and releases, and reports the pending count;
//   a busy or failing store only delays it (logged, retried with backoff);
// - the supervisor thread (HookSupervisor) never touches the store: it
//   spawns each claimed run with the SPEC environment and the job's JSON on
//   stdin, logs its output line by line with hook name and job ID, enforces
//   its timeout (SIGTERM to the process group, SIGKILL 5 s later), reaps
//   it, measures it from spawn to reap, and decides its outcome: success;
//   or a retry after exponential backoff with jitter, up to `retries`
//   retries (1 + retries runs); then failed, logged as an error.
//
// They meet in a RunHandoff (claimed runs one way, outcomes the other).
// Woken by wake() when new runs are committed, or by their own timers for
// retries. A full concurrency limit delays runs; the ledger keeps them.
//
// On stop, running hooks get `drain_timeout` to finish; then they are
// killed and left pending, so the next start runs them again (with
// JOBWATCH_ATTEMPT showing the repeat).
//
// Failure policy: a store error (busy, locked or full disk) is expected:
// logged and retried with backoff. An unexpected error (an exception) ends
// the thread it happens on, logged once, and failed() turns true; the
// owner then stops the service. Children are killed and reaped either way.
//
// Ownership: the store, clock, log and events must outlive the runner. The
// threads are jthread members. Thread-safety: wake(), setHooks() and
// running() may be called from any thread; start(), stop() and
// runUntilIdle() from one owning thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "config/config.h"
#include "hooks/hook_events.h"
#include "hooks/hook_supervisor.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::hooks {

class RunHandoff;
class LedgerClient;
class HookSupervisor;

// The supervisor's options (timeouts, retries, PATH and LANG) plus the hooks.
struct HookRunnerOptions : SupervisorOptions {
  config::HooksConfig hooks;
};

class HookRunner {
 public:
  HookRunner(HookRunnerOptions options, state::StateStore& store, const Clock& clock, Log& log,
             HookEvents* events);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  void start();
  void stop();  // drains (bounded), records what it can, then joins
  void wake();
  void setHooks(config::HooksConfig hooks);

  // --once and tests: starts the threads (if not running) and waits until
  // every run due now (and those that become due while waiting, up to
  // `max_wait`) has run and none is running or due; then stops them. If
  // that does not happen within `max_wait`, returns with the threads still
  // running (stop() drains them).
  void runUntilIdle(std::chrono::milliseconds max_wait);

  size_t running() const { return running_.load(); }

  // True once one of the runner's threads ended because of an unexpected
  // error (logged once when it happened). The runner does not carry on
  // after that: the owner stops the service (exit 3) and systemd restarts
  // it; the ledger makes that safe. A failing store is not such an error:
  // it is logged and retried with backoff. Any thread may ask.
  bool failed() const;

 private:
  std::atomic<size_t> running_{0};
  std::unique_ptr<RunHandoff> handoff_;
  std::unique_ptr<LedgerClient> ledger_;
  std::unique_ptr<HookSupervisor> supervisor_;
  std::jthread supervisor_thread_;
  std::jthread ledger_thread_;
};

}  // namespace jobwatch::hooks
