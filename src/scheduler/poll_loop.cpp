// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_loop.h"

#include <algorithm>
#include <exception>
#include <system_error>

#include "util/current_exception.h"

namespace jobwatch::scheduler {

using namespace std::chrono_literals;

namespace {

// The wedge file is looked at this often while it exists.
constexpr auto kWedgeCheckEvery = 50ms;

}  // namespace

PollLoop::PollLoop(PollEngine& engine, api::HttpTransport& transport, const Clock& clock, Log& log,
                   PollLoopOptions options)
    : engine_(engine),
      transport_(transport),
      clock_(clock),
      log_(log),
      options_(std::move(options)) {}

PollLoop::~PollLoop() { stop(); }

void PollLoop::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void PollLoop::stop() {
  ended_ = true;
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

bool PollLoop::post(std::function<void()> command) {
  if (failed_.load() || ended_.load()) return false;
  {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(command));
  }
  transport_.wake();
  return true;
}

void PollLoop::runPosted() {
  std::vector<std::function<void()>> commands;
  {
    std::lock_guard lock(mu_);
    commands.swap(posted_);
  }
  for (auto& command : commands) command();
}

void PollLoop::waitWhileWedged(std::stop_token stop) {
  if (options_.wedge_file.empty()) return;
  std::error_code ec;
  if (!std::filesystem::exists(options_.wedge_file, ec)) return;
  log_.warn("scheduler wedged by the test seam JOBWATCHD_TEST_WEDGE_FILE",
            {{"file", options_.wedge_file.string()}});
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  while (std::filesystem::exists(options_.wedge_file, ec)) {
    if (cv.wait_for(lock, stop, kWedgeCheckEvery, [] { return false; }) || stop.stop_requested()) {
      return;
    }
  }
  log_.warn("scheduler no longer wedged", {{"file", options_.wedge_file.string()}});
}

SteadyTime PollLoop::beatIfDue(SteadyTime now) {
  if (!options_.heartbeat) return SteadyTime::max();
  if (now >= next_beat_) next_beat_ = options_.heartbeat(now, engine_);
  return next_beat_;
}

void PollLoop::run(std::stop_token stop) {
  try {
    std::stop_callback wake_on_stop(stop, [this] { transport_.wake(); });
    while (!stop.stop_requested()) {
      waitWhileWedged(stop);
      if (stop.stop_requested()) break;
      runPosted();
      const SteadyTime wake = engine_.step();
      const SteadyTime beat_at = beatIfDue(clock_.now());
      if (stop.stop_requested()) break;
      // Bounded by the next heartbeat, so a healthy loop always beats.
      engine_.wait(std::min(wake, beat_at));
    }
    engine_.stopStarting();
    const SteadyTime deadline = clock_.now() + options_.drain_timeout;
    if (engine_.inFlight() > 0) {
      log_.info("stopping: waiting for polls in flight",
                {{"in_flight", std::to_string(engine_.inFlight())}});
    }
    while (engine_.inFlight() > 0 && clock_.now() < deadline) {
      engine_.wait(std::min(deadline, beatIfDue(clock_.now())));
      engine_.step();
    }
    engine_.step();
    if (engine_.inFlight() > 0) {
      log_.warn("stopping: gave up waiting for polls in flight",
                {{"in_flight", std::to_string(engine_.inFlight())}});
    }
  } catch (...) {
    log_.error("scheduler thread failed", {{"error", currentExceptionText()}});
    failed_ = true;
  }
}

}  // namespace jobwatch::scheduler
