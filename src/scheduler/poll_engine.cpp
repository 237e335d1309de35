// SPDX-License-Identifier: Apache-2.0
#include "scheduler/poll_engine.h"

#include <algorithm>

#include "api/poll_result.h"

namespace jobwatch::scheduler {

using namespace std::chrono_literals;
using api::PollResultKind;

namespace {

constexpr auto kIdleWake = 1h;
constexpr auto kAuthLogEvery = 60s;
constexpr size_t kMaxWarnedStatuses = 64;
constexpr auto kAdmissionRecheck = 10ms;
constexpr auto kUnrecognisedLogEvery = 10s;

// Poll tags keep the top bit clear; result fetches set it
// (kResultTagBit, poll_engine_results.cpp).
constexpr std::uint32_t kGenerationMask = 0x7fffffffu;

std::uint64_t makeTag(std::uint32_t slot, std::uint32_t generation) {
  return (static_cast<std::uint64_t>(generation & kGenerationMask) << 32) | slot;
}

}  // namespace

PollEngine::PollEngine(ScheduleSettings settings, status::StatusMapper mapper,
                       api::HttpTransport& transport, const Clock& clock, PollEvents& events,
                       Log& log, std::uint64_t seed)
    : settings_(std::move(settings)),
      mapper_(std::move(mapper)),
      transport_(transport),
      clock_(clock),
      events_(events),
      log_(log),
      rng_(seed),
      budget_(std::make_shared<AccountBudget>(settings_.rate_per_second, clock.now(),
                                              settings_.rate_window)) {}

void PollEngine::shareBudget(std::shared_ptr<AccountBudget> budget) {
  budget_ = std::move(budget);
  budget_->setRate(settings_.rate_per_second, clock_.now(), settings_.rate_window);
}

std::uint32_t PollEngine::allocateSlot(JobRecord record) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = slots_.append();
  }
  Slot& s = slots_[slot];
  s.used = true;
  s.job = std::move(record);
  s.job.in_flight = false;
  s.last_started = clock_.now();
  index_.insert(slot);
  ++status_counts_[s.job.status];
  events_.onJobWatched(s.job);
  return slot;
}

bool PollEngine::addJob(const WatchedJob& watched, bool due_now) {
  if (auto it = index_.find(std::string_view(watched.id)); it != index_.end()) {
    auto& labels = slots_[*it].job.labels;
    for (const auto& [k, v] : watched.labels) labels[k] = v;
    return false;
  }
  JobRecord record;
  record.id = watched.id;
  record.labels = watched.labels;
  record.source = watched.source;
  record.added_at = clock_.wallNow();
  const std::uint32_t slot = allocateSlot(std::move(record));
  const SteadyTime now = clock_.now();
  schedule(slot, due_now ? now : now + initialSpread(settings_.interval, rng_));
  return true;
}

bool PollEngine::restoreJob(JobRecord record) {
  if (index_.find(std::string_view(record.id)) != index_.end()) return false;
  const bool terminal = record.terminal;
  if (terminal) learnDuration(record);
  const std::uint32_t slot = allocateSlot(std::move(record));
  if (!terminal) schedule(slot, clock_.now() + initialSpread(settings_.interval, rng_));
  return true;
}

void PollEngine::updateSettings(ScheduleSettings settings) {
  if (settings.rate_per_second != settings_.rate_per_second ||
      settings.rate_window != settings_.rate_window) {
    budget_->setRate(settings.rate_per_second, clock_.now(), settings.rate_window);
  }
  const bool was_adaptive = adaptive();
  settings_ = std::move(settings);
  if (was_adaptive && !adaptive()) returnReady();
}

PollEngine::PollNow PollEngine::pollNow(const std::string& id) {
  auto it = index_.find(std::string_view(id));
  if (it == index_.end()) return PollNow::kNotWatched;
  Slot& s = slots_[*it];
  if (s.job.terminal) return PollNow::kTerminal;
  if (s.job.in_flight) return PollNow::kInFlight;
  ++s.generation;  // its queued entry becomes stale: one poll, not two
  due_.push({clock_.now(), *it, s.generation});
  return PollNow::kQueued;
}

bool PollEngine::removeJob(const std::string& id) {
  auto it = index_.find(std::string_view(id));
  if (it == index_.end()) return false;
  const std::uint32_t slot = *it;
  Slot& s = slots_[slot];
  events_.onJobUnwatched(s.job);
  if (--status_counts_[s.job.status] == 0) status_counts_.erase(s.job.status);
  if (single_pass_ && !s.job.terminal && single_pass_left_ > 0 && !s.job.polled)
    --single_pass_left_;
  index_.erase(it);  // while the slot still holds the ID it is filed under
  s.used = false;
  ++s.generation;  // queued entries and in-flight answers for it become stale
  s.job = JobRecord{};
  free_slots_.push_back(slot);
  return true;
}

const JobRecord* PollEngine::find(const std::string& id) const {
  auto it = index_.find(std::string_view(id));
  return it == index_.end() ? nullptr : &slots_[*it].job;
}

void PollEngine::forEachJob(const std::function<void(const JobRecord&)>& fn) const {
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].used) fn(slots_[i].job);
  }
}

void PollEngine::startSinglePass() {
  single_pass_ = true;
  single_pass_left_ = 0;
  decltype(due_) fresh;
  due_.swap(fresh);
  ready_.clear();
  const SteadyTime now = clock_.now();
  for (std::uint32_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (!s.used || s.job.terminal) continue;
    ++single_pass_left_;
    due_.push({now, i, s.generation});
  }
}

SteadyTime PollEngine::giveUpAt(const JobRecord& job, SteadyTime now) const {
  const auto left = job.added_at + settings_.give_up_after - clock_.wallNow();
  return now + std::chrono::duration_cast<SteadyTime::duration>(left);
}

void PollEngine::schedule(std::uint32_t slot, SteadyTime due) {
  const Slot& s = slots_[slot];
  due_.push({std::min(due, giveUpAt(s.job, clock_.now())), slot, s.generation});
}

SteadyTime PollEngine::step() {
  for (auto& response : finished_) handle(std::move(response));
  finished_.clear();

  const SteadyTime now = clock_.now();
  SteadyTime wake = now + kIdleWake;
  if (!startDueResults(now, wake)) return wake;
  while (!stopping_) {
    const std::optional<DueEntry> next = nextDue(now, wake);
    if (!next) break;
    JobRecord& job = slots_[next->slot].job;
    if (!takeRequestSlot(now, wake)) break;
    takeDue();
    slots_[next->slot].last_started = now;
    job.in_flight = true;
    ++in_flight_;
    transport_.start(
        {makeTag(next->slot, next->generation), api::jobUrl(settings_.base_url, job.id)});
  }
  return wake;
}

bool PollEngine::takeRequestSlot(SteadyTime now, SteadyTime& wake) {
  if (in_flight_ >= static_cast<size_t>(settings_.max_in_flight))
    return false;  // woken by an answer
  if (may_start_ && !may_start_()) {
    wake = std::min(wake, now + kAdmissionRecheck);
    return false;
  }
  return budget_->tryTake(now, wake);  // the account's pause and token bucket
}

bool PollEngine::timedOut(JobRecord& job, WallTime wall_now) {
  if (wall_now < job.added_at + settings_.give_up_after) return false;
  transition(job, std::string(status::kTimedOut), true, {});
  finishPassFor(job);
  return true;
}

std::optional<PollEngine::DueEntry> PollEngine::nextDue(SteadyTime now, SteadyTime& wake) {
  while (!due_.empty()) {
    const DueEntry top = due_.top();
    const Slot& s = slots_[top.slot];
    if (!s.used || s.generation != top.generation || s.job.terminal || s.job.in_flight) {
      due_.pop();  // stale: removed, reused or already settled
      continue;
    }
    if (top.due > now) {
      wake = std::min(wake, top.due);
      break;
    }
    if (timedOut(slots_[top.slot].job, clock_.wallNow())) {
      due_.pop();
      continue;
    }
    if (!adaptive()) return top;
    due_.pop();  // adaptive: every due job is a candidate
    ready_.push_back(top);
  }
  if (!adaptive()) return std::nullopt;
  return pickReady(now);
}

void PollEngine::takeDue() {
  if (!adaptive()) {
    due_.pop();
    return;
  }
  ready_[picked_] = ready_.back();
  ready_.pop_back();
}

void PollEngine::wait(SteadyTime until) {
  const SteadyTime now = clock_.now();
  auto left = until > now ? std::chrono::ceil<std::chrono::milliseconds>(until - now) : 0ms;
  transport_.run(std::min<std::chrono::milliseconds>(left, kIdleWake), finished_);
}

void PollEngine::handle(api::HttpResponse response) {
  budget_->finished(clock_.now());  // every request that took a token ends here
  if (response.tag & kResultTagBit) {
    handleResult(response);
    return;
  }
  if (in_flight_ > 0) --in_flight_;
  const auto slot = static_cast<std::uint32_t>(response.tag & 0xffffffffu);
  const auto generation = static_cast<std::uint32_t>(response.tag >> 32);
  if (slot >= slots_.size() || !slots_[slot].used ||
      (slots_[slot].generation & kGenerationMask) != generation) {
    return;  // the job stopped being watched while its poll was in flight
  }
  JobRecord& job = slots_[slot].job;
  job.in_flight = false;
  api::PollResult result = api::classifyResponse(std::move(response), parser_, job.id);
  job.polled = true;
  job.last_result = result.kind;
  job.last_poll_at = clock_.wallNow();
  noteApiHealth(result.kind, result.detail);
  events_.onPollFinished({job, result.kind, result.http_status, result.elapsed, result.detail});

  const SteadyTime now = clock_.now();
  if (result.kind == PollResultKind::kOk) {
    applyOk(slot, result, now);
  } else {
    applyFailure(slot, result, now);
  }
  finishPassFor(job);
}

void PollEngine::applyOk(std::uint32_t slot, api::PollResult& result, SteadyTime now) {
  JobRecord& job = slots_[slot].job;
  const api::JobSnapshot& snap = *result.job;
  job.consecutive_errors = 0;
  job.consecutive_not_found = 0;
  job.facts = snap.facts();

  status::MappedStatus mapped = mapper_.map(snap.status_raw);
  if (!mapped.recognised) warnUnrecognised(mapped.name, job.id, now);
  if (mapped.name != job.status) transition(job, mapped.name, mapped.terminal, result.body);
  if (!job.terminal) checkOverdue(job);
  if (!job.terminal && !single_pass_) {
    schedule(slot, now + jitteredInterval(settings_.interval, settings_.jitter, rng_));
  }
}

void PollEngine::applyFailure(std::uint32_t slot, const api::PollResult& result, SteadyTime now) {
  JobRecord& job = slots_[slot].job;
  SteadyTime next = now;
  switch (result.kind) {
    case PollResultKind::kNotFound:
      job.consecutive_errors = 0;
      if (++job.consecutive_not_found >= settings_.not_found_after) {
        transition(job, std::string(status::kNotFound), true, {});
        return;
      }
      next = now + jitteredInterval(settings_.interval, settings_.jitter, rng_);
      break;
    case PollResultKind::kRateLimited:
      next = notePause(result.retry_after, result.http_status, now);
      break;
    case PollResultKind::kAuthError:
      ++job.consecutive_errors;
      next = now + settings_.backoff_max;
      break;
    default:
      if (++job.consecutive_errors == 1) {
        const bool job_specific = result.kind == PollResultKind::kParseError;
        log_.write(job_specific ? LogLevel::kWarn : LogLevel::kDebug, "poll failed",
                   {{"job_id", job.id},
                    {"result", std::string(api::resultLabel(result.kind))},
                    {"detail", result.detail}});
      }
      next = now +
             backoffDelay(job.consecutive_errors, settings_.interval, settings_.backoff_max, rng_);
      break;
  }
  if (!single_pass_) schedule(slot, next);
}

SteadyTime PollEngine::notePause(std::optional<std::chrono::seconds> retry_after, long http_status,
                                 SteadyTime now) {
  const Millis pause = rateLimitPause(retry_after, settings_.interval, settings_.backoff_max);
  if (budget_->pauseUntil(now + pause, now)) {
    log_.warn("API is rate limiting; pausing all polls",
              {{"http_status", std::to_string(http_status)},
               {"pause", formatDuration(pause)},
               {"retry_after", retry_after ? "yes" : "no"}});
  }
  return budget_->pausedUntil();
}

void PollEngine::warnUnrecognised(const std::string& word, const std::string& job_id,
                                  SteadyTime now) {
  // The API's words are untrusted and unbounded: each is warned about once
  // while fewer than kMaxWarnedStatuses are remembered, and at most once per
  // kUnrecognisedLogEvery in all; the rest are counted and summed up.
  if (warned_statuses_.count(word) > 0) return;
  if (warned_statuses_.size() < kMaxWarnedStatuses) warned_statuses_.insert(word);
  if (now < next_unrecognised_log_) {
    ++unrecognised_suppressed_;
    return;
  }
  LogFields fields = {{"status", word.substr(0, 64)}, {"job_id", job_id}};
  if (unrecognised_suppressed_ > 0) {
    fields.push_back({"more_not_logged", std::to_string(unrecognised_suppressed_)});
  }
  log_.warn("unrecognised job status, treated as non-terminal (map it with poll.status_aliases)",
            fields);
  unrecognised_suppressed_ = 0;
  next_unrecognised_log_ = now + kUnrecognisedLogEvery;
}

void PollEngine::setStatus(JobRecord& job, const std::string& to) {
  if (--status_counts_[job.status] == 0) status_counts_.erase(job.status);
  ++status_counts_[to];
  job.status = to;
}

void PollEngine::transition(JobRecord& job, const std::string& to, bool terminal,
                            std::string_view body) {
  std::string from = job.status;
  setStatus(job, to);
  job.terminal = terminal;
  const WallTime at = clock_.wallNow();
  if (terminal) {
    job.terminal_at = at;
    learnDuration(job);
  }
  events_.onTransition({job, std::move(from), to, body, at,
                        std::chrono::duration_cast<std::chrono::milliseconds>(at - job.added_at)});
}

void PollEngine::finishPassFor(JobRecord& job) {
  (void)job;
  if (single_pass_ && single_pass_left_ > 0) --single_pass_left_;
}

void PollEngine::noteApiHealth(PollResultKind kind, std::string_view detail) {
  const SteadyTime now = clock_.now();
  if (kind == PollResultKind::kAuthError) {
    if (!auth_failing_ || now - last_auth_log_ >= kAuthLogEvery) {
      log_.error(
          "API rejected the key (HTTP 401/403); check api.api_key_file or api.api_key_env. "
          "Polling slows to poll.backoff_max until it is accepted",
          {{"detail", std::string(detail)}});
      last_auth_log_ = now;
    }
    auth_failing_ = true;
    return;
  }
  if (api::apiAnswered(kind)) {
    if (auth_failing_) log_.info("API accepts the key again");
    if (api_down_) log_.info("API reachable again");
    auth_failing_ = false;
    api_down_ = false;
    return;
  }
  if (!api_down_) {
    log_.error("API unreachable; job statuses are kept until it answers",
               {{"result", std::string(api::resultLabel(kind))}, {"detail", std::string(detail)}});
    api_down_ = true;
  }
}

}  // namespace jobwatch::scheduler
