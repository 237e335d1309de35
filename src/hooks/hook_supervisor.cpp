// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_supervisor.h"

#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>

#include "hooks/hook_environment.h"
#include "hooks/hook_outcome.h"
#include "util/current_exception.h"
#include "util/duration.h"

namespace jobwatch::hooks {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kFallbackWait{60'000};
constexpr milliseconds kErrorBackoff{1000};
// A child whose exit is not pollable (no pidfd) is checked this often.
constexpr milliseconds kNoPidfdPoll{50};

int toPollTimeout(milliseconds wait) {
  if (wait.count() <= 0) return 0;
  return static_cast<int>(std::min(wait, kFallbackWait).count());
}

milliseconds ceilMillis(std::chrono::nanoseconds d) { return std::chrono::ceil<milliseconds>(d); }

std::string formatSeconds(std::chrono::duration<double> d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", d.count());
  return buf;
}

}  // namespace

HookSupervisor::HookSupervisor(SupervisorOptions options, RunHandoff& handoff, const Clock& clock,
                               Log& log, HookEvents* events, std::atomic<size_t>& running)
    : options_(std::move(options)),
      handoff_(handoff),
      clock_(clock),
      log_(log),
      events_(events),
      running_(running),
      retry_(options_.retry_base, options_.retry_cap, std::random_device{}()) {}

HookSupervisor::~HookSupervisor() {
  // Normally empty (run() drained); kill and reap whatever is left.
  running_ -= active_.size();
  active_.clear();
}

void HookSupervisor::run(std::stop_token stop) {
  std::stop_callback on_stop(stop, [this] { handoff_.wakeSupervisor(); });
  try {
    supervise(stop);
    drain();
  } catch (...) {
    // Unexpected (expected failures are values): say so once, leave no
    // child behind, and let the service stop and be restarted.
    log_.error("hook supervisor failed; hooks stop until jobwatchd restarts",
               {{"error", currentExceptionText()}});
    handoff_.markFailed();
    abandon();
  }
}

void HookSupervisor::supervise(std::stop_token stop) {
  while (!stop.stop_requested()) {
    serviceChildren();
    startHandedOver();
    waitFor(ceilMillis(nextWake(clock_.now() + kFallbackWait) - clock_.now()));
  }
}

// A run leaves to_start_ only once it is running or its outcome is handed
// back, so an exception cannot lose it.
void HookSupervisor::startHandedOver() {
  for (auto& run : handoff_.takeHandedOver()) to_start_.push_back(std::move(run));
  while (!to_start_.empty()) {
    startRun(to_start_.front());
    to_start_.pop_front();
  }
}

void HookSupervisor::startRun(const state::HookRun& run) {
  auto def = handoff_.findHook(run.hook);
  if (!def) {
    log_.warn("hook no longer configured; run dropped",
              {{"hook", run.hook}, {"job_id", run.job_id}, {"status", run.status}});
    handoff_.handBack(
        LedgerOp::finish(run, state::RunOutcome::kFailed, WallTime{}, "hook no longer configured"));
    return;
  }
  SpawnSpec spec;
  spec.argv = hookArgv(*def);
  spec.env = hookEnvironment(run, run.attempts, options_.path_env, options_.lang_env);
  spec.stdin_data = run.body;
  const SteadyTime started = clock_.now();
  const WallTime started_wall = clock_.wallNow();
  auto child = ChildProcess::spawn(spec);
  if (!child) {
    const std::string error = "spawn error: " + child.error().message;
    state::HookAttempt attempt;
    attempt.started = started_wall;
    attempt.output = utf8Prefix(error, state::kAttemptOutputBytes);
    conclude(run, def->retries, HookResult::kSpawnError, error, std::chrono::duration<double>(0),
             {}, std::move(attempt));
    return;
  }
  log_.debug("hook started", {{"hook", run.hook},
                              {"job_id", run.job_id},
                              {"status", run.status},
                              {"attempt", std::to_string(run.attempts)},
                              {"pid", std::to_string((*child)->pid())}});
  Active a;
  a.run = run;
  a.def = std::move(*def);
  a.child = std::move(child).value();
  a.started = started;
  a.started_wall = started_wall;
  a.term_at = started + a.def.timeout;
  active_.push_back(std::move(a));
  ++running_;
}

void HookSupervisor::logLines(Active& a, std::vector<OutputLine>& lines) {
  for (auto& line : lines) {
    log_.info("hook output", {{"hook", a.run.hook},
                              {"job_id", a.run.job_id},
                              {"stream", line.is_stderr ? "stderr" : "stdout"},
                              {"line", line.text}});
    a.tail.add(line.text);
    if (line.is_stderr && !line.text.empty()) a.last_stderr = std::move(line.text);
  }
  lines.clear();
}

void HookSupervisor::serviceChildren() {
  std::vector<OutputLine> lines;
  for (size_t i = 0; i < active_.size();) {
    Active& a = active_[i];
    a.child->pump(lines);
    logLines(a, lines);
    enforceTimeout(a, clock_.now());
    auto exit = a.child->reap();
    if (!exit) {
      ++i;
      continue;
    }
    a.child->pump(lines);  // what reap() drained
    logLines(a, lines);
    finished(a, *exit);
    active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
    --running_;
  }
}

void HookSupervisor::enforceTimeout(Active& a, SteadyTime now) {
  if (!a.timed_out && now >= a.term_at) {
    log_.warn("hook timed out; terminating its process group",
              {{"hook", a.run.hook},
               {"job_id", a.run.job_id},
               {"timeout", formatDuration(a.def.timeout)},
               {"kill_after", formatDuration(options_.kill_grace)}});
    a.timed_out = true;
    a.child->signalGroup(SIGTERM);
    a.kill_at = now + options_.kill_grace;
  } else if (a.kill_at && now >= *a.kill_at) {
    log_.warn("hook ignored SIGTERM; killing its process group",
              {{"hook", a.run.hook}, {"job_id", a.run.job_id}});
    a.child->signalGroup(SIGKILL);
    a.kill_at.reset();
  }
}

void HookSupervisor::finished(Active& a, const ExitInfo& exit) {
  const std::chrono::duration<double> duration = clock_.now() - a.started;
  ExitReport report = describeExit(exit, a.timed_out ? std::optional(a.def.timeout) : std::nullopt,
                                   a.last_stderr, a.child->droppedBytes());
  state::HookAttempt attempt;
  attempt.started = a.started_wall;
  if (exit.exited) {
    attempt.exit_code = exit.code;
  } else {
    attempt.signal = signalName(exit.signal);
  }
  attempt.output = a.tail.text();
  conclude(a.run, a.def.retries, report.result, report.error, duration, std::move(report.details),
           std::move(attempt));
}

// Logs and reports how a run ended, and hands its outcome to the ledger
// thread (with the retry time, if it is to be retried).
void HookSupervisor::conclude(const state::HookRun& run, int retries, HookResult result,
                              const std::string& error, std::chrono::duration<double> duration,
                              LogFields details, state::HookAttempt attempt) {
  if (events_ != nullptr) events_->onHookFinished(run.hook, result, duration);
  attempt.run_id = run.run_id;
  attempt.job_id = run.job_id;
  attempt.status = run.status;
  attempt.hook = run.hook;
  attempt.attempt = run.attempts;
  attempt.duration = std::chrono::duration_cast<milliseconds>(duration);
  attempt.result = std::string(hookResultLabel(result));
  const auto withAttempt = [&attempt](LedgerOp op) {
    op.attempt = std::move(attempt);
    return op;
  };
  LogFields fields{{"hook", run.hook},
                   {"job_id", run.job_id},
                   {"status", run.status},
                   {"attempt", std::to_string(run.attempts)},
                   {"duration", formatSeconds(duration)}};
  if (result == HookResult::kSuccess) {
    for (auto& d : details) fields.push_back(std::move(d));
    log_.info("hook succeeded", fields);
    handoff_.handBack(
        withAttempt(LedgerOp::finish(run, state::RunOutcome::kSucceeded, WallTime{}, "")));
    return;
  }
  fields.push_back({"result", std::string(hookResultLabel(result))});
  for (auto& d : details) fields.push_back(std::move(d));
  fields.push_back({"error", error});
  if (RetryPolicy::mayRetry(run.attempts, retries)) {
    const milliseconds backoff = retry_.backoff(run.attempts);
    fields.push_back({"retry", "true"});
    fields.push_back({"retry_in", formatDuration(backoff)});
    log_.warn("hook failed", fields);
    handoff_.handBack(withAttempt(
        LedgerOp::finish(run, state::RunOutcome::kRetry, clock_.wallNow() + backoff, error)));
  } else {
    fields.push_back({"retry", "false"});
    log_.error("hook failed permanently", fields);
    handoff_.handBack(
        withAttempt(LedgerOp::finish(run, state::RunOutcome::kFailed, WallTime{}, error)));
  }
}

SteadyTime HookSupervisor::nextWake(SteadyTime limit) const {
  const SteadyTime now = clock_.now();
  SteadyTime wake_at = std::min(limit, now + kFallbackWait);
  for (const auto& a : active_) {
    if (!a.timed_out) wake_at = std::min(wake_at, a.term_at);
    if (a.kill_at) wake_at = std::min(wake_at, *a.kill_at);
    if (!a.child->hasPidfd()) wake_at = std::min(wake_at, now + kNoPidfdPoll);
  }
  return wake_at;
}

// poll() over the hand-over eventfd and every child's descriptors.
void HookSupervisor::waitFor(milliseconds wait) {
  std::vector<pollfd> fds;
  fds.push_back({handoff_.supervisorFd(), POLLIN, 0});
  for (const auto& a : active_) {
    for (const auto& f : a.child->fds()) fds.push_back({f.fd, f.events, 0});
  }
  int rc = ::poll(fds.data(), fds.size(), toPollTimeout(wait));
  if (rc < 0 && errno != EINTR) {
    log_.error("poll failed", {{"error", strerrordesc_np(errno)}});
    pollfd wake{handoff_.supervisorFd(), POLLIN, 0};
    rc = ::poll(&wake, 1, toPollTimeout(kErrorBackoff));
    fds[0].revents = wake.revents;
  }
  if (rc > 0 && (fds[0].revents & POLLIN) != 0) handoff_.clearSupervisorWake();
}

// Stop: nothing new starts; running hooks get drain_timeout, then are
// killed and released (pending again, so the next start runs them again).
void HookSupervisor::drain() {
  const SteadyTime deadline = clock_.now() + options_.drain_timeout;
  if (!active_.empty()) {
    log_.info("waiting for running hooks to finish",
              {{"running", std::to_string(active_.size())},
               {"timeout", formatDuration(options_.drain_timeout)}});
  }
  while (!active_.empty() && clock_.now() < deadline) {
    serviceChildren();
    if (!active_.empty()) waitFor(ceilMillis(nextWake(deadline) - clock_.now()));
  }
  killRemaining();
}

void HookSupervisor::killRemaining() {
  std::vector<OutputLine> lines;
  while (!active_.empty()) {
    Active& a = active_.back();
    log_.warn("hook still running at shutdown; killed, it will run again on next start",
              {{"hook", a.run.hook},
               {"job_id", a.run.job_id},
               {"attempt", std::to_string(a.run.attempts)}});
    a.child->signalGroup(SIGKILL);
    a.child->pump(lines);
    logLines(a, lines);
    a.child.reset();  // kills what is left of the group and reaps it
    handoff_.handBack(LedgerOp::release(a.run));
    active_.pop_back();
    --running_;
  }
  // Handed over but never started (an error interrupted startHandedOver).
  while (!to_start_.empty()) {
    handoff_.handBack(LedgerOp::release(to_start_.front()));
    to_start_.pop_front();
  }
}

void HookSupervisor::abandon() noexcept {
  try {
    killRemaining();
  } catch (const std::exception& e) {
    log_.error("cannot release hook runs; they will run again after restart",
               {{"error", e.what()}});
  }
  // Whatever killRemaining() could not get to: killed and reaped here.
  running_ -= active_.size();
  active_.clear();
}

}  // namespace jobwatch::hooks
