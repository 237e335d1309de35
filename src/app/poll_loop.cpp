#include "app/poll_loop.h"

#include <algorithm>
#include <exception>
#include <system_error>

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

// STATUS= lines are rate-limited to one a second.
constexpr auto kStatusEvery = 1s;
// The wedge file is looked at this often while it exists.
constexpr auto kWedgeCheckEvery = 50ms;

}  // namespace

PollLoop::PollLoop(scheduler::PollEngine& engine, api::HttpTransport& transport, const Clock& clock,
                   Log& log, PollLoopOptions options)
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

SteadyTime PollLoop::notifyIfDue(SteadyTime now) {
  ServiceNotifier* notifier = options_.notifier;
  if (notifier == nullptr || !notifier->enabled()) return SteadyTime::max();
  if (const auto interval = notifier->watchdogInterval()) {
    if (now >= next_watchdog_) {
      notifier->watchdog();
      next_watchdog_ = now + *interval;
    }
  }
  if (now >= next_status_) {
    next_status_ = now + kStatusEvery;
    const size_t pending = options_.hooks_pending ? options_.hooks_pending() : 0;
    std::string text = formatServiceStatus(engine_.statusCounts(), engine_.jobCount(), pending);
    if (text != last_status_) {
      notifier->status(text);
      last_status_ = std::move(text);
    }
  }
  SteadyTime next = next_status_;
  if (notifier->watchdogInterval()) next = std::min(next, next_watchdog_);
  return next;
}

void PollLoop::run(std::stop_token stop) {
  try {
    std::stop_callback wake_on_stop(stop, [this] { transport_.wake(); });
    while (!stop.stop_requested()) {
      waitWhileWedged(stop);
      if (stop.stop_requested()) break;
      runPosted();
      const SteadyTime wake = engine_.step();
      const SteadyTime notify_at = notifyIfDue(clock_.now());
      if (stop.stop_requested()) break;
      // Bounded by the next watchdog ping, so a healthy loop always pings.
      engine_.wait(std::min(wake, notify_at));
    }
    engine_.stopStarting();
    const SteadyTime deadline = clock_.now() + options_.drain_timeout;
    if (engine_.inFlight() > 0) {
      log_.info("stopping: waiting for polls in flight",
                {{"in_flight", std::to_string(engine_.inFlight())}});
    }
    while (engine_.inFlight() > 0 && clock_.now() < deadline) {
      engine_.wait(std::min(deadline, notifyIfDue(clock_.now())));
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
