// SPDX-License-Identifier: Apache-2.0
// PollLoop: the scheduler thread. Alternates PollEngine::step() and wait()
// until stopped; then starts no new polls and waits (bounded by
// `drain_timeout`) for the requests in flight, so their answers are
// processed rather than lost.
//
// The loop also speaks for the daemon's liveness: after every step it calls
// the owner's `heartbeat` (on this thread; the daemon sends the service
// manager's WATCHDOG=1 and STATUS= from it) and bounds its waits by the
// time the heartbeat asks to be called again, so a scheduler that is stuck
// (a command that never returns, a transport that never wakes) stops the
// heartbeats and systemd restarts the service.
//
// Other threads never touch the engine (nor what lives beside it on this
// thread, such as the Roster): they post() commands that the scheduler
// thread runs between steps.
//
// Ownership: the engine, transport, clock and log must outlive the loop,
// and so must whatever posted commands and the heartbeat refer to. The thread is a std::jthread
// member, stopped and joined by stop() or the destructor. Thread-safety: post(), stop() and
// failed() may be called from any thread.
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
#include "scheduler/poll_engine.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::scheduler {

struct PollLoopOptions {
  std::chrono::milliseconds drain_timeout{10000};
  // Called on the scheduler thread after each step, with the engine (for
  // counts); returns when it next wants to be called. Empty: none.
  std::function<SteadyTime(SteadyTime now, const PollEngine& engine)> heartbeat;
  // TEST SEAM, never active unless set (the service sets it from the
  // environment variable JOBWATCHD_TEST_WEDGE_FILE): while this file exists
  // the loop blocks at the top of each iteration - no polls, no posted
  // commands, no watchdog pings - as a stuck scheduler would. Stop requests
  // still end the block.
  std::filesystem::path wedge_file;
};

class PollLoop {
 public:
  PollLoop(PollEngine& engine, api::HttpTransport& transport, const Clock& clock, Log& log,
           PollLoopOptions options);
  ~PollLoop();
  PollLoop(const PollLoop&) = delete;
  PollLoop& operator=(const PollLoop&) = delete;

  void start();
  // Requests a stop and joins the thread (drains in-flight polls first).
  void stop();
  // Runs `command` on the scheduler thread before its next step. Commands
  // posted before start() run when it starts; after stop() or a failure,
  // never: then post() returns false.
  bool post(std::function<void()> command);
  // True when the thread ended on its own because of an unexpected error.
  bool failed() const { return failed_.load(); }

 private:
  void run(std::stop_token stop);
  void runPosted();
  void waitWhileWedged(std::stop_token stop);
  // Calls the heartbeat when due; returns when it is next due (or max).
  SteadyTime beatIfDue(SteadyTime now);

  PollEngine& engine_;
  api::HttpTransport& transport_;
  const Clock& clock_;
  Log& log_;
  PollLoopOptions options_;
  std::atomic<bool> failed_{false};
  std::atomic<bool> ended_{false};  // stop() was called
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  // Scheduler thread only:
  SteadyTime next_beat_{};
  std::jthread thread_;
};

}  // namespace jobwatch::scheduler
