// SPDX-License-Identifier: Apache-2.0
// PollLane: one engine thread of one account (SPEC "Accounts": polling runs
// on a scheduler thread pool). It owns what that thread works with: the
// account's libcurl multi handle for this thread, the PollEngine and the
// Roster of the jobs routed to it, the engine's listeners that keep
// per-thread state (transition log, the recorder that turns transitions
// into state rows and hook runs, the operator's request counts), and the
// PollLoop thread itself. The lanes of one account share its AccountBudget
// (token bucket, Retry-After pause) and its MetricsFeed; everything else
// they share (state writer, results directory) is the daemon's.
//
// Thread-safety: construction, start() and stop() on the control thread;
// engine(), roster() and feed() belong to the lane's thread once start()
// has run (reach them through post()); post() and failed() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "api/curl_multi_transport.h"
#include "api/result_file.h"
#include "app/lane_settings.h"
#include "scheduler/account_budget.h"
#include "scheduler/poll_engine.h"
#include "scheduler/poll_loop.h"
#include "scheduler/roster.h"
#include "state/state_writer.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::app {

class MetricsFeed;
class OperatorFeed;
class TransitionLog;
class TransitionRecorder;

// What every lane uses and the daemon owns.
struct LaneContext {
  state::StateWriter& writer;
  const api::ResultDir& results;
  Log& log;
  const Clock& clock;
};

class PollLane {
 public:
  // Lane `index` (0..settings.threads-1) of settings.account.
  PollLane(const LaneSettings& settings, int index,
           std::shared_ptr<scheduler::AccountBudget> budget, MetricsFeed& metrics,
           LaneContext context, std::uint64_t seed);
  ~PollLane();
  PollLane(const PollLane&) = delete;
  PollLane& operator=(const PollLane&) = delete;

  const std::string& account() const { return account_; }
  int index() const { return index_; }

  scheduler::PollEngine& engine() { return *engine_; }
  const scheduler::PollEngine& engine() const { return *engine_; }
  scheduler::Roster& roster() { return *roster_; }
  OperatorFeed& feed() { return *feed_; }

  // Starts the lane's thread.
  void start(scheduler::PollLoopOptions options);
  // No new polls; answers in flight are still recorded; joins the thread.
  void stop();
  bool running() const { return started_.load() != nullptr; }
  // Runs `fn` on the lane's thread (false once it stopped or failed).
  [[nodiscard]] bool post(std::function<void()> fn);
  bool failed() const;

  // On the lane's thread: a reloaded configuration (settings, status words,
  // transport and key, hooks, results' give-up time) as one step.
  void reconfigure(const LaneSettings& settings, const api::ResultDir& results);

 private:
  const std::string account_;
  const int index_;
  LaneContext context_;
  std::unique_ptr<api::CurlMultiTransport> transport_;
  std::unique_ptr<TransitionLog> transition_log_;
  std::unique_ptr<TransitionRecorder> recorder_;
  std::unique_ptr<OperatorFeed> feed_;
  std::unique_ptr<scheduler::PollEventsFanout> fanout_;
  std::unique_ptr<scheduler::PollEngine> engine_;
  std::unique_ptr<scheduler::Roster> roster_;
  std::unique_ptr<scheduler::PollLoop> loop_;  // set once, by start()
  // loop_ once started: what other threads read (post, failed), so a lane
  // seen by them before start() is simply not running yet.
  std::atomic<scheduler::PollLoop*> started_{nullptr};
};

}  // namespace jobwatch::app
