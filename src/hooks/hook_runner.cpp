#include "hooks/hook_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <optional>
#include <random>

#include "hooks/child_process.h"
#include "hooks/hook_environment.h"
#include "util/duration.h"

namespace jobwatch::hooks {

std::string_view hookResultLabel(HookResult result) {
  switch (result) {
    case HookResult::kSuccess:
      return "success";
    case HookResult::kFailure:
      return "failure";
    case HookResult::kTimeout:
      return "timeout";
    case HookResult::kSpawnError:
      return "spawn_error";
  }
  return "failure";
}

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr milliseconds kFallbackWait{60'000};
// After a failed store call (disk error) or an exception in the loop.
constexpr milliseconds kStoreBackoff{1000};
constexpr milliseconds kErrorBackoff{1000};
// A child whose exit is not pollable (no pidfd) is checked this often.
constexpr milliseconds kNoPidfdPoll{50};
// The store is asked for due runs at least this often, wake() or not.
constexpr milliseconds kClaimRecheck{1000};
// When a run looks due but the claim returned nothing, do not spin.
constexpr milliseconds kDueButNotClaimedWait{100};
constexpr size_t kLastStderrMax = 200;

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(sig);
}

int toPollTimeout(milliseconds wait) {
  if (wait.count() <= 0) return 0;
  return static_cast<int>(std::min(wait, kFallbackWait).count());
}

milliseconds ceilMillis(std::chrono::nanoseconds d) { return std::chrono::ceil<milliseconds>(d); }

// At most `max` bytes of `text`, not cutting a UTF-8 sequence in two.
std::string utf8Prefix(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string formatSeconds(std::chrono::duration<double> d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", d.count());
  return buf;
}

}  // namespace

struct HookRunner::Impl {
  // A run whose process is alive (or not yet reaped).
  struct Active {
    state::HookRun run;
    config::HookDefinition def;  // as it was when the run started
    std::unique_ptr<ChildProcess> child;
    SteadyTime started{};
    SteadyTime term_at{};
    std::optional<SteadyTime> kill_at;  // set once SIGTERM was sent, until SIGKILL is
    bool timed_out = false;
    std::string last_stderr;  // for the failure message
  };

  // An outcome the store could not record yet (disk error): kept in memory
  // and retried, so a finished run is never silently left `running`.
  struct Unrecorded {
    std::int64_t run_id;
    std::string hook;
    std::string job_id;
    state::RunOutcome outcome;
    WallTime retry_at;
    std::string last_error;
  };

  Impl(HookRunnerOptions options, state::StateStore& store_in, const Clock& clock_in, Log& log_in,
       HookEvents* events_in, std::atomic<size_t>& running_in)
      : kill_grace(options.kill_grace),
        drain_timeout(options.drain_timeout),
        retry_base(options.retry_base),
        retry_cap(options.retry_cap),
        path_env(std::move(options.path_env)),
        lang_env(std::move(options.lang_env)),
        store(store_in),
        clock(clock_in),
        log(log_in),
        events(events_in),
        running(running_in),
        hooks(std::move(options.hooks)),
        rng(std::random_device{}()) {
    wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0) {
      std::fprintf(stderr, "jobwatchd: broken invariant: eventfd: %s\n", strerrordesc_np(errno));
      std::abort();
    }
  }

  ~Impl() {
    // Normally empty (stop() drained); kill and reap whatever is left.
    active.clear();
    ::close(wake_fd);
  }

  void wake() {
    pending_dirty = true;
    claim_requested = true;
    std::uint64_t one = 1;
    // EAGAIN only when the counter is about to overflow: already woken.
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  void setHooks(config::HooksConfig new_hooks) {
    {
      std::lock_guard lock(mu);
      hooks = std::move(new_hooks);
    }
    wake();
  }

  // ---- the loop (one thread at a time: the runner's, or runUntilIdle's caller)

  // The thread body.
  void run(std::stop_token stop) {
    std::stop_callback on_stop(stop, [this] { wake(); });
    while (!stop.stop_requested()) {
      try {
        step(true, clock.now() + kFallbackWait, false);
      } catch (const std::exception& e) {
        log.error("hook runner error; continuing", {{"error", e.what()}});
        waitForWake(kErrorBackoff);
      }
    }
    drain();
  }

  void runUntilIdle(milliseconds max_wait) {
    const SteadyTime deadline = clock.now() + max_wait;
    while (true) {
      try {
        if (step(true, deadline, true)) return;
      } catch (const std::exception& e) {
        log.error("hook runner error; continuing", {{"error", e.what()}});
        waitForWake(std::min(kErrorBackoff, ceilMillis(deadline - clock.now())));
      }
      if (clock.now() >= deadline) return;
    }
  }

  // One turn: collect output and exits, enforce timeouts, record outcomes,
  // claim and start due runs, then wait (poll) until something happens or
  // `limit`. With `return_if_idle`, returns true instead of waiting when
  // nothing is running and nothing is due now. Without `claiming` (stop),
  // returns true as soon as nothing is running.
  bool step(bool claiming, SteadyTime limit, bool return_if_idle) {
    serviceChildren();
    if (store_retry_at && clock.now() >= *store_retry_at) {
      store_retry_at.reset();
      claim_requested = true;
    }
    if (storeUsable()) recordUnrecorded();
    if (claiming) {
      const size_t free = freeSlots();
      if (free > 0 && storeUsable() && claimDue()) claim(free);
      startClaimed();
    }
    reportPending();

    const SteadyTime now = clock.now();
    SteadyTime wake_at = std::min(limit, now + kFallbackWait);
    for (const auto& a : active) {
      if (!a.timed_out) wake_at = std::min(wake_at, a.term_at);
      if (a.kill_at) wake_at = std::min(wake_at, *a.kill_at);
      if (!a.child->hasPidfd()) wake_at = std::min(wake_at, now + kNoPidfdPoll);
    }
    if (store_retry_at) wake_at = std::min(wake_at, *store_retry_at);
    bool due_now = false;
    if (claiming) {
      if (!claimed.empty()) wake_at = now;
      if (freeSlots() > 0 && storeUsable()) {
        wake_at = std::min(wake_at, claim_requested ? now : last_claim_at + kClaimRecheck);
        if (next_due) {
          const auto until = *next_due - clock.wallNow();
          if (until <= std::chrono::nanoseconds::zero()) {
            due_now = true;
            // Due, yet the claim just made did not take it: do not spin.
            wake_at = std::min(wake_at,
                               now + (last_claim_short ? kDueButNotClaimedWait : milliseconds(0)));
          } else {
            wake_at = std::min(wake_at, now + ceilMillis(until));
          }
        }
      }
    }
    if (!claiming && active.empty()) return true;  // draining: nothing left to wait for
    const bool idle = active.empty() && claimed.empty() && unrecorded.empty() && !due_now &&
                      !store_retry_at && !claim_requested;
    if (return_if_idle && idle) return true;
    waitFor(ceilMillis(wake_at - now));
    return false;
  }

  size_t freeSlots() {
    int max_concurrent;
    {
      std::lock_guard lock(mu);
      max_concurrent = hooks.max_concurrent;
    }
    const size_t limit = static_cast<size_t>(std::max(1, max_concurrent));
    const size_t busy = active.size() + claimed.size();
    return busy >= limit ? 0 : limit - busy;
  }

  // Whether to ask the store for due runs now. Not on every turn: output
  // from a chatty hook wakes the loop often, and a claim is a transaction.
  // New runs come with wake(); retries and slots freed by finished runs set
  // claim_requested; the cached next due time covers the rest, and a
  // periodic recheck covers a writer that forgot to wake us.
  bool claimDue() {
    if (claim_requested.exchange(false)) return true;
    if (next_due && clock.wallNow() >= *next_due) return true;
    return clock.now() - last_claim_at >= kClaimRecheck;
  }

  void claim(size_t free) {
    last_claim_at = clock.now();
    auto runs = store.claimDueRuns(clock.wallNow(), free);
    if (!runs) {
      storeFailed("cannot claim hook runs", runs.error().message);
      return;
    }
    storeSucceeded();
    last_claim_short = runs->size() < free;
    if (!runs->empty()) pending_dirty = true;
    for (auto& run : *runs) claimed.push_back(std::move(run));
    auto next = store.nextPendingAt();
    if (!next) {
      storeFailed("cannot read the hook queue", next.error().message);
      return;
    }
    next_due = *next;
  }

  // Starts claimed runs. A run leaves `claimed` only once it is running or
  // its outcome is recorded (or queued for recording), so an exception
  // cannot lose it.
  void startClaimed() {
    while (!claimed.empty()) {
      startRun(claimed.front());
      claimed.pop_front();
    }
  }

  std::optional<config::HookDefinition> findHook(const std::string& name) {
    std::lock_guard lock(mu);
    for (const auto& def : hooks.definitions) {
      if (def.name == name) return def;
    }
    return std::nullopt;
  }

  void startRun(const state::HookRun& run) {
    auto def = findHook(run.hook);
    if (!def) {
      log.warn("hook no longer configured; run dropped",
               {{"hook", run.hook}, {"job_id", run.job_id}, {"status", run.status}});
      record(run, state::RunOutcome::kFailed, WallTime{}, "hook no longer configured");
      return;
    }
    SpawnSpec spec;
    spec.argv = hookArgv(*def);
    spec.env = hookEnvironment(run, run.attempts, path_env, lang_env);
    spec.stdin_data = run.body;
    const SteadyTime started = clock.now();
    auto child = ChildProcess::spawn(spec);
    if (!child) {
      conclude(run, def->retries, HookResult::kSpawnError, "spawn error: " + child.error().message,
               std::chrono::duration<double>(0), {});
      return;
    }
    log.debug("hook started", {{"hook", run.hook},
                               {"job_id", run.job_id},
                               {"status", run.status},
                               {"attempt", std::to_string(run.attempts)},
                               {"pid", std::to_string((*child)->pid())}});
    Active a;
    a.run = run;
    a.def = std::move(*def);
    a.child = std::move(child).value();
    a.started = started;
    a.term_at = started + a.def.timeout;
    active.push_back(std::move(a));
    ++running;
  }

  void logLines(Active& a, std::vector<OutputLine>& lines) {
    for (auto& line : lines) {
      log.info("hook output", {{"hook", a.run.hook},
                               {"job_id", a.run.job_id},
                               {"stream", line.is_stderr ? "stderr" : "stdout"},
                               {"line", line.text}});
      if (line.is_stderr && !line.text.empty()) a.last_stderr = std::move(line.text);
    }
    lines.clear();
  }

  void serviceChildren() {
    std::vector<OutputLine> lines;
    for (size_t i = 0; i < active.size();) {
      Active& a = active[i];
      a.child->pump(lines);
      logLines(a, lines);
      const SteadyTime now = clock.now();
      if (!a.timed_out && now >= a.term_at) {
        log.warn("hook timed out; terminating its process group",
                 {{"hook", a.run.hook},
                  {"job_id", a.run.job_id},
                  {"timeout", formatDuration(a.def.timeout)},
                  {"kill_after", formatDuration(kill_grace)}});
        a.timed_out = true;
        a.child->signalGroup(SIGTERM);
        a.kill_at = now + kill_grace;
      } else if (a.kill_at && now >= *a.kill_at) {
        log.warn("hook ignored SIGTERM; killing its process group",
                 {{"hook", a.run.hook}, {"job_id", a.run.job_id}});
        a.child->signalGroup(SIGKILL);
        a.kill_at.reset();
      }
      auto exit = a.child->reap();
      if (!exit) {
        ++i;
        continue;
      }
      a.child->pump(lines);  // what reap() drained
      logLines(a, lines);
      finished(a, *exit);
      active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
      --running;
    }
  }

  void finished(Active& a, const ExitInfo& exit) {
    const std::chrono::duration<double> duration = clock.now() - a.started;
    HookResult result = HookResult::kFailure;
    if (a.timed_out) {
      result = HookResult::kTimeout;
    } else if (exit.exited && exit.code == 0) {
      result = HookResult::kSuccess;
    }
    LogFields details;
    std::string what;
    if (result != HookResult::kSuccess) {
      if (exit.exited) {
        details.push_back({"exit_code", std::to_string(exit.code)});
        what = "exit code " + std::to_string(exit.code);
      } else if (exit.signal != 0) {
        details.push_back({"signal", signalName(exit.signal)});
        what = "killed by " + signalName(exit.signal);
      } else {
        what = "exit status lost (the process was reaped elsewhere)";
      }
      if (a.timed_out)
        what = "timed out after " + formatDuration(a.def.timeout) + " (" + what + ")";
      // The last stderr line usually says why; the ledger keeps it.
      if (!a.last_stderr.empty()) what += ": " + utf8Prefix(a.last_stderr, kLastStderrMax);
    }
    if (a.child->droppedBytes() > 0) {
      details.push_back({"output_dropped_bytes", std::to_string(a.child->droppedBytes())});
    }
    conclude(a.run, a.def.retries, result, what, duration, std::move(details));
  }

  // Logs, reports and records how a run ended; schedules its retry.
  void conclude(const state::HookRun& run, int retries, HookResult result, const std::string& error,
                std::chrono::duration<double> duration, LogFields details) {
    if (events != nullptr) events->onHookFinished(run.hook, result, duration);
    LogFields fields{{"hook", run.hook},
                     {"job_id", run.job_id},
                     {"status", run.status},
                     {"attempt", std::to_string(run.attempts)},
                     {"duration", formatSeconds(duration)}};
    if (result == HookResult::kSuccess) {
      for (auto& d : details) fields.push_back(std::move(d));
      log.info("hook succeeded", fields);
      record(run, state::RunOutcome::kSucceeded, WallTime{}, "");
      return;
    }
    fields.push_back({"result", std::string(hookResultLabel(result))});
    for (auto& d : details) fields.push_back(std::move(d));
    fields.push_back({"error", error});
    if (run.attempts < 1 + std::max(0, retries)) {
      const milliseconds backoff = retryBackoff(run.attempts);
      fields.push_back({"retry", "true"});
      fields.push_back({"retry_in", formatDuration(backoff)});
      log.warn("hook failed", fields);
      record(run, state::RunOutcome::kRetry, clock.wallNow() + backoff, error);
    } else {
      fields.push_back({"retry", "false"});
      log.error("hook failed permanently", fields);
      record(run, state::RunOutcome::kFailed, WallTime{}, error);
    }
  }

  // min(cap, base * 2^(attempts-1)), with jitter in [backoff/2, backoff]:
  // retries of runs that failed together spread out, yet never come sooner
  // than half the nominal delay.
  milliseconds retryBackoff(int attempts) {
    milliseconds nominal = retry_base;
    for (int i = 1; i < attempts && nominal < retry_cap; ++i) nominal *= 2;
    nominal = std::min(nominal, retry_cap);
    if (nominal.count() <= 0) return milliseconds(0);
    std::uniform_int_distribution<long long> pick(nominal.count() / 2, nominal.count());
    return milliseconds(pick(rng));
  }

  void record(const state::HookRun& run, state::RunOutcome outcome, WallTime retry_at,
              const std::string& last_error) {
    pending_dirty = true;
    claim_requested = true;  // a slot is free, and a retry may be due soon
    Unrecorded u{run.run_id, run.hook, run.job_id, outcome, retry_at, last_error};
    if (!unrecorded.empty() || !storeUsable()) {
      unrecorded.push_back(std::move(u));  // keep the order of outcomes
      return;
    }
    auto s = store.finishRun(u.run_id, u.outcome, u.retry_at, u.last_error);
    if (!s) {
      storeFailed("cannot record a hook run's outcome; will retry", s.error().message);
      unrecorded.push_back(std::move(u));
      return;
    }
    storeSucceeded();
  }

  void recordUnrecorded() {
    while (!unrecorded.empty()) {
      const Unrecorded& u = unrecorded.front();
      auto s = store.finishRun(u.run_id, u.outcome, u.retry_at, u.last_error);
      if (!s) {
        storeFailed("cannot record a hook run's outcome; will retry", s.error().message);
        return;
      }
      storeSucceeded();
      log.info("hook run outcome recorded after a store error",
               {{"hook", u.hook}, {"job_id", u.job_id}});
      unrecorded.pop_front();
    }
  }

  void reportPending() {
    if (events == nullptr || !pending_dirty.exchange(false)) return;
    if (!storeUsable()) {
      pending_dirty = true;
      return;
    }
    auto pending = store.countRuns(state::HookRunState::kPending);
    if (!pending) {
      pending_dirty = true;
      storeFailed("cannot count pending hook runs", pending.error().message);
      return;
    }
    events->onPendingChanged(*pending);
  }

  // False while backing off after a store error.
  bool storeUsable() const { return !store_retry_at.has_value(); }

  void storeFailed(std::string_view what, const std::string& error) {
    log.error(what, {{"error", error}, {"retry_in", formatDuration(kStoreBackoff)}});
    store_retry_at = clock.now() + kStoreBackoff;
  }

  void storeSucceeded() { store_retry_at.reset(); }

  // poll() over the wake eventfd and every child's descriptors.
  void waitFor(milliseconds wait) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd, POLLIN, 0});
    for (const auto& a : active) {
      for (const auto& f : a.child->fds()) fds.push_back({f.fd, f.events, 0});
    }
    int rc = ::poll(fds.data(), fds.size(), toPollTimeout(wait));
    if (rc < 0 && errno != EINTR) {
      log.error("poll failed", {{"error", strerrordesc_np(errno)}});
      waitForWake(kErrorBackoff);
      return;
    }
    if (rc > 0 && (fds[0].revents & POLLIN) != 0) {
      std::uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wake_fd, &count, sizeof count);
    }
  }

  void waitForWake(milliseconds wait) {
    pollfd fd{wake_fd, POLLIN, 0};
    if (::poll(&fd, 1, toPollTimeout(wait)) > 0) {
      std::uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wake_fd, &count, sizeof count);
    }
  }

  // Stop: no new claims; running hooks get drain_timeout, then are killed
  // and released (pending again, so the next start runs them again).
  void drain() {
    const SteadyTime deadline = clock.now() + drain_timeout;
    if (!active.empty()) {
      log.info("waiting for running hooks to finish", {{"running", std::to_string(active.size())},
                                                       {"timeout", formatDuration(drain_timeout)}});
    }
    while (!active.empty() && clock.now() < deadline) {
      try {
        step(false, deadline, false);
      } catch (const std::exception& e) {
        log.error("hook runner error while stopping", {{"error", e.what()}});
        waitForWake(std::min(kErrorBackoff, ceilMillis(deadline - clock.now())));
      }
    }
    try {
      killRemaining();
    } catch (const std::exception& e) {
      log.error("hook runner error while stopping", {{"error", e.what()}});
    }
  }

  void killRemaining() {
    std::vector<OutputLine> lines;
    while (!active.empty()) {
      Active& a = active.back();
      log.warn("hook still running at shutdown; killed, it will run again on next start",
               {{"hook", a.run.hook},
                {"job_id", a.run.job_id},
                {"attempt", std::to_string(a.run.attempts)}});
      a.child->signalGroup(SIGKILL);
      a.child->pump(lines);
      logLines(a, lines);
      a.child.reset();  // kills what is left of the group and reaps it
      release(a.run);
      active.pop_back();
      --running;
    }
    // Claimed but never started (an exception interrupted startClaimed).
    while (!claimed.empty()) {
      release(claimed.front());
      claimed.pop_front();
    }
    recordUnrecorded();
    for (const auto& u : unrecorded) {
      log.error("hook run outcome could not be recorded; the run will repeat after restart",
                {{"hook", u.hook}, {"job_id", u.job_id}});
    }
    unrecorded.clear();
    store_retry_at.reset();
    reportPending();
  }

  void release(const state::HookRun& run) {
    pending_dirty = true;
    auto s = store.releaseRun(run.run_id);
    if (!s) {
      // Still `running` in the ledger: recoverInterruptedRuns() makes it
      // pending at the next start, so it is not lost.
      log.error("cannot release a hook run; it will run again after restart",
                {{"hook", run.hook}, {"job_id", run.job_id}, {"error", s.error().message}});
    }
  }

  // Fixed at construction.
  const milliseconds kill_grace;
  const milliseconds drain_timeout;
  const milliseconds retry_base;
  const milliseconds retry_cap;
  const std::string path_env;
  const std::string lang_env;
  state::StateStore& store;
  const Clock& clock;
  Log& log;
  HookEvents* const events;
  std::atomic<size_t>& running;
  int wake_fd = -1;
  // Set from any thread (wake) and by the loop itself.
  std::atomic<bool> pending_dirty{true};    // report the pending count
  std::atomic<bool> claim_requested{true};  // ask the store for due runs

  std::mutex mu;
  config::HooksConfig hooks;  // guarded by mu

  // Loop state: only the thread running the loop touches these.
  std::deque<state::HookRun> claimed;
  std::vector<Active> active;
  std::deque<Unrecorded> unrecorded;
  std::optional<SteadyTime> store_retry_at;
  SteadyTime last_claim_at{};
  bool last_claim_short = false;     // the last claim got fewer runs than asked for
  std::optional<WallTime> next_due;  // earliest pending run, as of the last claim
  std::mt19937_64 rng;
};

HookRunner::HookRunner(HookRunnerOptions options, state::StateStore& store, const Clock& clock,
                       Log& log, HookEvents* events)
    : impl_(std::make_unique<Impl>(std::move(options), store, clock, log, events, running_)) {}

HookRunner::~HookRunner() { stop(); }

void HookRunner::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { impl_->run(std::move(stop)); });
}

void HookRunner::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    impl_->wake();
    thread_.join();
    return;
  }
  // Not started (or already stopped): runs left by runUntilIdle are drained
  // on the calling thread.
  impl_->drain();
}

void HookRunner::wake() { impl_->wake(); }

void HookRunner::setHooks(config::HooksConfig hooks) { impl_->setHooks(std::move(hooks)); }

void HookRunner::runUntilIdle(std::chrono::milliseconds max_wait) { impl_->runUntilIdle(max_wait); }

}  // namespace jobwatch::hooks
