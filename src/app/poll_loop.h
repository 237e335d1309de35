// PollLoop: the scheduler thread. Alternates PollEngine::step() and wait()
// until stopped; then starts no new polls and waits (bounded by
// `drain_timeout`) for the requests in flight, so their answers are
// processed rather than lost.
//
// The loop also speaks for the daemon's liveness: it sends the service
// manager's WATCHDOG=1 itself, at most every half watchdog interval, and
// bounds its waits by that interval, so a scheduler that is stuck (a
// command that never returns, a transport that never wakes) stops the
// pings and systemd restarts the service. It sends STATUS= with the job
// counts by status (read from the engine, on this thread) when they change,
// at most once a second.
//
// Other threads never touch the engine: they post() commands (add or forget
// jobs, ...) that the scheduler thread runs between steps.
//
// Ownership: the engine, transport, clock, log and notifier must outlive
// the loop. The thread is a std::jthread member, stopped and joined by
// stop() or the destructor.
// Thread-safety: post(), stop() and failed() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/http_transport.h"
#include "app/service_notifier.h"
#include "scheduler/poll_engine.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::app {

struct PollLoopOptions {
  std::chrono::milliseconds drain_timeout{10000};
  // WATCHDOG=1 and STATUS=; nullptr: no notifications.
  ServiceNotifier* notifier = nullptr;
  // Hook runs waiting in the ledger, for the STATUS= line (called on the
  // scheduler thread; must be thread-safe on the callee's side).
  std::function<size_t()> hooks_pending;
  // TEST SEAM, never active unless set (the service sets it from the
  // environment variable JOBWATCHD_TEST_WEDGE_FILE): while this file exists
  // the loop blocks at the top of each iteration - no polls, no posted
  // commands, no watchdog pings - as a stuck scheduler would. Stop requests
  // still end the block.
  std::filesystem::path wedge_file;
};

class PollLoop {
 public:
  PollLoop(scheduler::PollEngine& engine, api::HttpTransport& transport, const Clock& clock,
           Log& log, PollLoopOptions options);
  ~PollLoop();
  PollLoop(const PollLoop&) = delete;
  PollLoop& operator=(const PollLoop&) = delete;

  void start();
  // Requests a stop and joins the thread (drains in-flight polls first).
  void stop();
  // Runs `command` on the scheduler thread before its next step. Commands
  // posted before start() run when it starts; after stop(), never.
  void post(std::function<void(scheduler::PollEngine&)> command);
  // True when the thread ended on its own because of an unexpected error.
  bool failed() const { return failed_.load(); }

 private:
  void run(std::stop_token stop);
  void runPosted();
  void waitWhileWedged(std::stop_token stop);
  // Sends WATCHDOG=1 / STATUS= when due; returns when next due (or max).
  SteadyTime notifyIfDue(SteadyTime now);

  scheduler::PollEngine& engine_;
  api::HttpTransport& transport_;
  const Clock& clock_;
  Log& log_;
  PollLoopOptions options_;
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::vector<std::function<void(scheduler::PollEngine&)>> posted_;  // guarded by mu_
  // Scheduler thread only:
  SteadyTime next_watchdog_{};
  SteadyTime next_status_{};
  std::string last_status_;
  std::jthread thread_;
};

}  // namespace jobwatch::app
