// PollLoop: the scheduler thread. Alternates PollEngine::step() and wait()
// until stopped; then starts no new polls and waits (bounded by
// `drain_timeout`) for the requests in flight, so their answers are
// processed rather than lost.
//
// Other threads never touch the engine: they post() commands (add or forget
// jobs, ...) that the scheduler thread runs between steps.
//
// Ownership: the engine and transport must outlive the loop. The thread is
// a std::jthread member, stopped and joined by stop() or the destructor.
// Thread-safety: post(), stop() and failed() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/http_transport.h"
#include "scheduler/poll_engine.h"
#include "util/log.h"

namespace jobwatch::app {

class PollLoop {
 public:
  PollLoop(scheduler::PollEngine& engine, api::HttpTransport& transport, Log& log,
           std::chrono::milliseconds drain_timeout);
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

  scheduler::PollEngine& engine_;
  api::HttpTransport& transport_;
  Log& log_;
  std::chrono::milliseconds drain_timeout_;
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::vector<std::function<void(scheduler::PollEngine&)>> posted_;  // guarded by mu_
  std::jthread thread_;
};

}  // namespace jobwatch::app
