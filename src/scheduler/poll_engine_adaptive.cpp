// SPDX-License-Identifier: Apache-2.0
// PollEngine, the adaptive strategy's part (SPEC "Polling strategy"): every
// due job waits in ready_; each time a request may start, pickNext chooses
// among them with the duration model learned from finished jobs. Kept apart
// from poll_engine.cpp so the engine's loop stays one place.
#include <algorithm>
#include <chrono>

#include "scheduler/poll_engine.h"
#include "util/duration.h"

namespace jobwatch::scheduler {

namespace {

double seconds(std::chrono::duration<double> d) { return d.count(); }

double wallSeconds(WallTime t) { return seconds(t.time_since_epoch()); }

bool learnable(const std::string& status) {
  // Our own verdicts say nothing about how long the vendor took.
  return status != status::kTimedOut && status != status::kNotFound;
}

}  // namespace

PollCandidate PollEngine::candidateFor(const Slot& slot, SteadyTime now, WallTime wall_now) const {
  const JobRecord& job = slot.job;
  const double wall = wallSeconds(wall_now);
  const std::optional<double> created = apiTimeSeconds(job.facts.created_at);
  PollCandidate c;
  c.type = job.facts.type;
  c.phase = job.status == status::kQueued ? JobPhase::kQueued : JobPhase::kRunning;
  c.age = wall - created.value_or(wallSeconds(job.added_at));
  c.since_poll = seconds(now - slot.last_started);
  return c;
}

std::optional<PollEngine::DueEntry> PollEngine::pickReady(SteadyTime now) {
  if (ready_.empty()) return std::nullopt;
  // Nothing can start now (step() will find out and wait): choosing would
  // cost a pass over every due job for nothing.
  if (!budget_->available(now) || in_flight_ >= static_cast<size_t>(settings_.max_in_flight)) {
    picked_ = 0;
    return ready_.front();
  }
  const WallTime wall_now = clock_.wallNow();
  candidates_.clear();
  for (size_t i = 0; i < ready_.size();) {
    const DueEntry e = ready_[i];
    Slot& s = slots_[e.slot];
    const bool stale = !s.used || s.generation != e.generation || s.job.terminal;
    if (stale || timedOut(s.job, wall_now)) {
      ready_[i] = ready_.back();
      ready_.pop_back();
      continue;
    }
    candidates_.push_back(candidateFor(s, now, wall_now));
    ++i;
  }
  if (ready_.empty()) return std::nullopt;
  PickLimits limits;
  limits.max_interval = seconds(settings_.max_interval);
  if (settings_.rate_per_second > 0) {  // round robin's gap: unfinished jobs / budget
    const auto unfinished = static_cast<double>(due_.size() + ready_.size() + in_flight_);
    limits.fair_gap = unfinished / (settings_.rate_per_second * settings_.rate_share);
  }
  picked_ = pickNext(candidates_, models_, limits);
  return ready_[picked_];
}

void PollEngine::learnDuration(const JobRecord& job) {
  if (!job.terminal || !learnable(job.status)) return;
  const std::optional<double> created = apiTimeSeconds(job.facts.created_at);
  if (!created) return;
  // The API's updated_at of a finished job is when it finished; our own
  // terminal_at (when we saw it) is later by the detection delay.
  const double finished =
      apiTimeSeconds(job.facts.updated_at).value_or(wallSeconds(job.terminal_at));
  models_.learn(kDefaultAccount, job.facts.type, finished - *created,
                job.status == status::kCompleted);
}

std::optional<double> PollEngine::overdueLimit(const JobRecord& job) const {
  if (settings_.overdue_after > Millis{0}) return seconds(settings_.overdue_after);
  if (!settings_.overdue_auto) return std::nullopt;
  const TypeDurations* t = models_.find(kDefaultAccount, job.facts.type);
  if (t == nullptr || !t->known()) return std::nullopt;
  // The larger of the robust fit's and the ring's own: a heavier tail than
  // the log-normal's does not flag every slow job.
  return std::max(t->fittedQuantile(0.99), t->empiricalQuantile(0.99));
}

void PollEngine::checkOverdue(JobRecord& job) {
  if (job.overdue) return;
  const std::optional<double> limit = overdueLimit(job);
  if (!limit) return;
  const double wall = wallSeconds(clock_.wallNow());
  const double age =
      wall - apiTimeSeconds(job.facts.created_at).value_or(wallSeconds(job.added_at));
  if (age <= *limit) return;
  job.overdue = true;
  auto text = [](double s) { return formatDuration(Millis(static_cast<long long>(s * 1000))); };
  log_.warn("job overdue: still unfinished past its expected duration; polling goes on",
            {{"job_id", job.id},
             {"status", job.status},
             {"type", job.facts.type},
             {"age", text(age)},
             {"overdue_after", text(*limit)}});
  events_.onOverdue(job);
}

void PollEngine::returnReady() {
  for (const DueEntry& e : ready_) due_.push(e);
  ready_.clear();
}

}  // namespace jobwatch::scheduler
