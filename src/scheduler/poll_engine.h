// SPDX-License-Identifier: Apache-2.0
// PollEngine: owns every watched job's poll state and decides, step by
// step, which jobs to poll. It never blocks and starts no threads: the
// daemon's scheduler thread alternates step() (handle finished polls, start
// due ones, return when next needed) and wait() (let the transport move
// bytes until then). Tests drive the same two calls with a ManualClock and
// a scripted transport.
//
// Decisions, per SPEC "Polling": each job is due interval +- jitter after its
// last poll, new jobs are spread over one interval; due jobs start oldest
// due first (or, with the adaptive strategy, by pickNext over every due job:
// poll_engine_adaptive.cpp), limited by max_in_flight and a shared token
// bucket; errors back
// off per job up to backoff_max; 429/503 pause everyone for Retry-After;
// 401/403 slow the job to backoff_max; terminal jobs are never polled again;
// give_up_after -> timed_out; not_found_after 404s in a row -> not_found. An
// outage never changes a status.
//
// Thread-safety: single-threaded; everything runs on the scheduler thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/http_transport.h"
#include "api/job_snapshot.h"
#include "api/result_file.h"
#include "scheduler/account_budget.h"
#include "scheduler/duration_model.h"
#include "scheduler/poll_events.h"
#include "scheduler/poll_strategy.h"
#include "scheduler/poll_timing.h"
#include "status/job_status.h"
#include "util/clock.h"
#include "util/log.h"

namespace jobwatch::scheduler {

// Tags of result fetches have this bit set; poll tags never do.
inline constexpr std::uint64_t kResultTagBit = std::uint64_t{1} << 63;

struct ScheduleSettings {
  std::string base_url;
  Millis interval{5000};
  double jitter = 0.1;
  Millis backoff_max{300000};
  Millis give_up_after{86400000};
  int not_found_after = 3;
  int max_in_flight = 32;
  double rate_per_second = 0;  // <= 0: unlimited
  // The vendor's counting window for that rate (account_budget.h); 0: none.
  Millis rate_window{0};
  // This engine's share of the rate (1 / the account's threads), for the
  // adaptive strategy's round-robin gap: its jobs get that share.
  double rate_share = 1.0;
  // Which due job goes first while the budget binds (poll_strategy.h).
  PollStrategy strategy = PollStrategy::kAdaptive;
  Millis max_interval{3600000};
  // Overdue limit (SPEC "Overdue jobs"): fixed when > 0; else, with
  // overdue_auto, the 99th percentile of the type's learned duration; else off.
  Millis overdue_after{0};
  bool overdue_auto = true;
};

struct WatchedJob {
  std::string id;
  status::Labels labels;
  status::JobSource source = status::JobSource::kWatchFile;
};

class PollEngine {
 public:
  PollEngine(ScheduleSettings settings, status::StatusMapper mapper, api::HttpTransport& transport,
             const Clock& clock, PollEvents& events, Log& log, std::uint64_t seed);
  // The job index points into the engine's own slot table.
  PollEngine(const PollEngine&) = delete;
  PollEngine& operator=(const PollEngine&) = delete;

  // Watches a job (spread over one interval, or due now when `due_now`).
  // An ID already watched only has its labels merged. Returns false then.
  bool addJob(const WatchedJob& job, bool due_now = false);
  // Watches a job remembered from a previous run, with its last known
  // status and fields. Terminal jobs are kept (for counts) but never
  // polled; others are spread over one interval. False if already watched.
  bool restoreJob(JobRecord record);
  // The operator's `poll`: the job is due now, ahead of its turn; it still
  // waits for the shared budget (token bucket, Retry-After) like any poll.
  enum class PollNow { kQueued, kInFlight, kTerminal, kNotWatched };
  PollNow pollNow(const std::string& id);
  // Stops watching; an in-flight poll's answer is discarded.
  bool removeJob(const std::string& id);

  // Handles finished polls and starts due ones. Returns when the engine next
  // needs a step (the caller waits at most until then).
  SteadyTime step();
  // Lets the transport work until `until` (or earlier activity / wake()).
  void wait(SteadyTime until);

  // --once: every non-terminal job is due now and polled exactly once
  // (failures are not retried). passFinished() says when all have answered.
  void startSinglePass();
  bool passFinished() const { return single_pass_ && single_pass_left_ == 0; }

  // Live reload: new settings and status words apply from the next poll of
  // each job (due times already set stay; the rate limit applies at once).
  void updateSettings(ScheduleSettings settings);
  // The account's budget (SPEC "Accounts"): engines of one account given the
  // same one draw every request's token from it and pause together on a
  // 429/503 (account_budget.h). Its rate follows these settings' (set here
  // and by updateSettings). Before the first step.
  void shareBudget(std::shared_ptr<AccountBudget> budget);
  void setStatusMapper(status::StatusMapper mapper) { mapper_ = std::move(mapper); }
  const ScheduleSettings& settings() const { return settings_; }

  // Admission: while `may_start()` says no, no new poll starts (answers in
  // flight are still handled) and step() asks to be called again soon. The
  // daemon passes "the state writer has room" (StateWriter::hasRoom). Empty:
  // always.
  void setAdmission(std::function<bool()> may_start) { may_start_ = std::move(may_start); }

  // Graceful stop: no new polls start; step()/wait() keep collecting answers.
  void stopStarting() { stopping_ = true; }
  size_t inFlight() const { return in_flight_; }

  const JobRecord* find(const std::string& id) const;
  // Every watched job, in no particular order.
  void forEachJob(const std::function<void(const JobRecord&)>& fn) const;
  size_t jobCount() const { return index_.size(); }
  const Clock& clock() const { return clock_; }
  // Watched jobs per canonical status.
  const std::map<std::string, size_t>& statusCounts() const { return status_counts_; }
  // API health as the last answers showed it (for the operator's status).
  bool apiDown() const { return api_down_; }
  bool authFailing() const { return auth_failing_; }
  // The time until which a Retry-After pause holds every poll.
  SteadyTime pausedUntil() const { return budget_->pausedUntil(); }
  // How long jobs take, learned from restored and newly finished jobs.
  const DurationModels& durationModels() const { return models_; }

  // Results (SPEC "Results"; poll_engine_results.cpp). Fetches of
  // GET /jobs/{id}/result share the polls' in-flight limit, token bucket
  // and Retry-After pause, and go before due polls. Each is streamed into
  // `dir` (not owned; null: results are given up at once). Failures back
  // off like polls; after `give_up_after` (from the record's `since`) the
  // result is given up with the last failure as the reason; a result over
  // the size cap is given up at once. Every change is an onResultUpdate.
  void setResults(const api::ResultDir* dir, Millis give_up_after);
  // Wants `record`'s result (pending): fetched from record.next_try on. A
  // job whose result is already wanted is left as it is; one dropped while
  // its fetch was in flight is wanted again, and that fetch settles it.
  void fetchResult(state::ResultRecord record);
  // Stops wanting a job's result (the job is held elsewhere now: release).
  void dropResult(const std::string& job_id);
  // The job is forgotten (state.forget_after, or the operator's `forget`):
  // its result is no longer wanted and results.dir/<id>.json is deleted
  // (a missing file is fine; an error is logged). The one way both paths
  // forget a job's result (Roster).
  void forgetResult(const std::string& job_id);
  size_t resultsPending() const { return results_.size(); }

 private:
  struct DueEntry {
    SteadyTime due;
    std::uint32_t slot;
    std::uint32_t generation;
    bool operator>(const DueEntry& o) const { return due > o.due; }
  };
  struct Slot {
    JobRecord job;
    std::uint32_t generation = 0;
    bool used = false;
    SteadyTime last_started{};  // last poll started (or watched since)
  };
  // Slots in fixed-size chunks: a slot never moves, and growing the table
  // neither copies every job nor leaves a vector's up-to-2x spare capacity
  // (at 100,000 jobs that was ~120 bytes per job; tests/bench/README.md).
  class SlotTable {
   public:
    Slot& operator[](std::uint32_t i) { return chunks_[i >> kChunkBits][i & kChunkMask]; }
    const Slot& operator[](std::uint32_t i) const {
      return chunks_[i >> kChunkBits][i & kChunkMask];
    }
    std::uint32_t size() const { return size_; }
    std::uint32_t append() {
      if ((size_ & kChunkMask) == 0) chunks_.push_back(std::make_unique<Slot[]>(kChunkMask + 1));
      return size_++;
    }

   private:
    static constexpr unsigned kChunkBits = 8;  // 256 slots (~94 KiB) per chunk
    static constexpr std::uint32_t kChunkMask = (1u << kChunkBits) - 1;
    std::vector<std::unique_ptr<Slot[]>> chunks_;
    std::uint32_t size_ = 0;
  };
  // The job index holds slot numbers and finds them by the slot's job ID, so
  // the ID is stored once (in the slot), not a second time as a map key.
  // Transparent: looked up by std::string_view. Hash codes are cached in
  // the nodes (the hash is not noexcept), so erasing or rehashing never
  // reads a slot.
  struct IdHash {
    using is_transparent = void;
    const SlotTable* slots;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
    size_t operator()(std::uint32_t slot) const { return (*this)((*slots)[slot].job.id); }
  };
  struct IdEqual {
    using is_transparent = void;
    const SlotTable* slots;
    bool operator()(std::uint32_t a, std::uint32_t b) const {
      return (*slots)[a].job.id == (*slots)[b].job.id;
    }
    bool operator()(std::string_view id, std::uint32_t b) const { return (*slots)[b].job.id == id; }
    bool operator()(std::uint32_t a, std::string_view id) const { return (*slots)[a].job.id == id; }
  };

  std::uint32_t allocateSlot(JobRecord record);
  void schedule(std::uint32_t slot, SteadyTime due);
  void handle(api::HttpResponse response);
  void applyOk(std::uint32_t slot, api::PollResult& result, SteadyTime now);
  void applyFailure(std::uint32_t slot, const api::PollResult& result, SteadyTime now);
  void transition(JobRecord& job, const std::string& to, bool terminal, std::string_view body);
  void rescheduleAfterSuccess(std::uint32_t slot, SteadyTime now);
  SteadyTime giveUpAt(const JobRecord& job, SteadyTime now) const;
  void noteApiHealth(api::PollResultKind kind, std::string_view detail);
  void finishPassFor(JobRecord& job);
  void setStatus(JobRecord& job, const std::string& to);
  void warnUnrecognised(const std::string& word, const std::string& job_id, SteadyTime now);
  bool dueSlotAvailable(SteadyTime now, SteadyTime& wake);
  bool timedOut(JobRecord& job, WallTime wall_now);
  // The next due job to start (due_ top, or the adaptive pick from
  // ready_), if any; wake is lowered to the next due time.
  std::optional<DueEntry> nextDue(SteadyTime now, SteadyTime& wake);
  void takeDue();
  // poll_engine_adaptive.cpp
  // Without a budget (rate_per_second <= 0) there is nothing to choose:
  // every due job starts (up to max_in_flight) in due order.
  bool adaptive() const {
    return settings_.strategy == PollStrategy::kAdaptive && settings_.rate_per_second > 0 &&
           !single_pass_;
  }
  std::optional<DueEntry> pickReady(SteadyTime now);
  PollCandidate candidateFor(const Slot& slot, SteadyTime now, WallTime wall_now) const;
  void learnDuration(const JobRecord& job);
  void returnReady();
  void checkOverdue(JobRecord& job);
  std::optional<double> overdueLimit(const JobRecord& job) const;

  struct ResultTask {
    state::ResultRecord record;
    std::unique_ptr<api::ResultFile> file;  // while a fetch is in flight
    std::uint64_t seq = 0;                  // of the queued entry or the fetch in flight
    int failures = 0;                       // in a row, for the backoff
    bool dropped = false;                   // forgotten while its fetch was in flight
  };
  struct ResultDue {
    SteadyTime due;
    std::uint64_t seq;
    std::string job_id;
    bool operator>(const ResultDue& o) const { return due > o.due; }
  };
  // Starts due result fetches while the shared limits allow; false when a
  // limit (not the queue) stopped it, with `wake` lowered to when to retry.
  bool startDueResults(SteadyTime now, SteadyTime& wake);
  // Whether one more request (poll or result) may start now: a free
  // in-flight slot, no Retry-After pause, the writer has room, and a token
  // (taken). Otherwise false, with `wake` lowered to when to look again.
  bool takeRequestSlot(SteadyTime now, SteadyTime& wake);
  void startResult(ResultTask& task);
  void handleResult(const api::HttpResponse& response);
  // `sent`: whether a request went out (false: the file could not be created).
  void resultFailed(ResultTask& task, const api::ResultFetchOutcome& outcome,
                    std::chrono::microseconds elapsed, bool sent = true);
  void queueResult(ResultTask& task, SteadyTime due);
  void settleResult(ResultTask& task, state::ResultState state, std::string file_or_error,
                    std::optional<api::ResultFetchKind> fetch, long http_status,
                    std::chrono::microseconds elapsed);
  // Pauses the account's requests for a 429/503; returns the pause's end.
  SteadyTime notePause(std::optional<std::chrono::seconds> retry_after, long http_status,
                       SteadyTime now);

  ScheduleSettings settings_;
  status::StatusMapper mapper_;
  api::HttpTransport& transport_;
  const Clock& clock_;
  PollEvents& events_;
  Log& log_;
  Rng rng_;
  api::JobResponseParser parser_;
  // The account's token bucket and Retry-After pause: the engine's own
  // unless shared with the account's other engines (shareBudget).
  std::shared_ptr<AccountBudget> budget_;

  SlotTable slots_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_set<std::uint32_t, IdHash, IdEqual> index_{0, IdHash{&slots_}, IdEqual{&slots_}};
  std::priority_queue<DueEntry, std::vector<DueEntry>, std::greater<>> due_;
  std::map<std::string, size_t> status_counts_;
  std::unordered_set<std::string> warned_statuses_;  // bounded (poll_engine.cpp)
  SteadyTime next_unrecognised_log_{};
  size_t unrecognised_suppressed_ = 0;
  std::vector<api::HttpResponse> finished_;
  // Adaptive: every due job waits here until picked (index of the pick).
  DurationModels models_;
  std::vector<DueEntry> ready_;
  std::vector<PollCandidate> candidates_;
  size_t picked_ = 0;

  std::function<bool()> may_start_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  bool single_pass_ = false;
  size_t single_pass_left_ = 0;

  const api::ResultDir* result_dir_ = nullptr;
  Millis result_give_up_after_{3600000};
  std::unordered_map<std::string, ResultTask> results_;
  std::priority_queue<ResultDue, std::vector<ResultDue>, std::greater<>> result_due_;
  std::uint64_t result_seq_ = 0;
  std::unordered_map<std::uint64_t, std::string> result_tags_;  // fetches in flight -> job

  // API health, for operator-facing log lines (not per poll).
  bool api_down_ = false;
  bool auth_failing_ = false;
  SteadyTime last_auth_log_{};
};

}  // namespace jobwatch::scheduler
