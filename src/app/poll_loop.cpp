#include "app/poll_loop.h"

#include <exception>

namespace jobwatch::app {

PollLoop::PollLoop(scheduler::PollEngine& engine, api::HttpTransport& transport, Log& log,
                   std::chrono::milliseconds drain_timeout)
    : engine_(engine), transport_(transport), log_(log), drain_timeout_(drain_timeout) {}

PollLoop::~PollLoop() { stop(); }

void PollLoop::start() {
  thread_ = std::jthread([this](std::stop_token st) { run(st); });
}

void PollLoop::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void PollLoop::post(std::function<void(scheduler::PollEngine&)> command) {
  {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(command));
  }
  transport_.wake();
}

void PollLoop::runPosted() {
  std::vector<std::function<void(scheduler::PollEngine&)>> commands;
  {
    std::lock_guard lock(mu_);
    commands.swap(posted_);
  }
  for (auto& command : commands) command(engine_);
}

void PollLoop::run(std::stop_token stop) {
  try {
    std::stop_callback wake_on_stop(stop, [this] { transport_.wake(); });
    while (!stop.stop_requested()) {
      runPosted();
      const SteadyTime wake = engine_.step();
      if (stop.stop_requested()) break;
      engine_.wait(wake);
    }
    engine_.stopStarting();
    const auto deadline = std::chrono::steady_clock::now() + drain_timeout_;
    if (engine_.inFlight() > 0) {
      log_.info("stopping: waiting for polls in flight",
                {{"in_flight", std::to_string(engine_.inFlight())}});
    }
    while (engine_.inFlight() > 0 && std::chrono::steady_clock::now() < deadline) {
      engine_.wait(SteadyTime(deadline.time_since_epoch()));
      engine_.step();
    }
    engine_.step();
    if (engine_.inFlight() > 0) {
      log_.warn("stopping: gave up waiting for polls in flight",
                {{"in_flight", std::to_string(engine_.inFlight())}});
    }
  } catch (const std::exception& e) {
    log_.error("scheduler thread failed", {{"error", e.what()}});
    failed_ = true;
  }
}

}  // namespace jobwatch::app
