// HookRunner: runs hook commands from the ledger, at most
// hooks.max_concurrent at a time, on its own thread.
//
// Loop: claim due pending runs from the StateStore (committed as running
// before anything is spawned), spawn each with the SPEC environment and the
// job's JSON on stdin, log its output line by line with hook name and job
// ID, enforce its timeout (SIGTERM to the process group, SIGKILL 5 s later),
// reap it, and record the outcome: success; or a retry after exponential
// backoff with jitter, up to `retries` retries (1 + retries runs); then
// failed, logged as an error. Woken by wake() when new runs are committed,
// or by its own timer for retries. A full concurrency limit delays runs; the
// ledger keeps them.
//
// On stop, running hooks get `drain_timeout` to finish; then they are
// killed and left pending, so the next start runs them again (with
// JOBWATCH_ATTEMPT showing the repeat).
//
// Ownership: the store, clock and log must outlive the runner. The thread is
// a jthread member. Thread-safety: wake(), setHooks() and counters may be
// called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "state/state_store.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::hooks {

// How a hook run ended (the metric label of jobwatch_hook_runs_total).
enum class HookResult { kSuccess, kFailure, kTimeout, kSpawnError };
std::string_view hookResultLabel(HookResult result);

class HookEvents {
 public:
  virtual ~HookEvents() = default;
  virtual void onHookFinished(const std::string& hook, HookResult result,
                              std::chrono::duration<double> duration) = 0;
  virtual void onPendingChanged(size_t pending) = 0;
};

struct HookRunnerOptions {
  config::HooksConfig hooks;
  std::chrono::milliseconds kill_grace{5000};      // SIGTERM -> SIGKILL
  std::chrono::milliseconds drain_timeout{20000};  // on stop
  std::chrono::milliseconds retry_base{1000};      // backoff base for retries
  std::chrono::milliseconds retry_cap{300000};
  std::string path_env;  // PATH given to hooks
  std::string lang_env;  // LANG given to hooks
};

class HookRunner {
 public:
  HookRunner(HookRunnerOptions options, state::StateStore& store, const Clock& clock, Log& log,
             HookEvents* events);
  ~HookRunner();
  HookRunner(const HookRunner&) = delete;
  HookRunner& operator=(const HookRunner&) = delete;

  void start();
  void stop();  // drains (bounded), then joins
  void wake();
  void setHooks(config::HooksConfig hooks);

  // --once and tests: on the calling thread, runs every run due now (and
  // those that become due while waiting, up to `max_wait`) until none is
  // running or due. Must not be used while the thread runs.
  void runUntilIdle(std::chrono::milliseconds max_wait);

  size_t running() const { return running_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<size_t> running_{0};
  std::jthread thread_;
};

}  // namespace jobwatch::hooks
