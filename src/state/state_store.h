// SPDX-License-Identifier: Apache-2.0
// StateStore: the daemon's memory across restarts, in SQLite (WAL mode,
// synchronous=FULL: the hook ledger decides whether a hook is lost, so a
// committed ledger entry must survive power loss, not only a crash).
//
// Holds every watched job's last known status, raw last body, timestamps,
// consecutive errors and labels, and the hook ledger: one row per
// (job, status, hook) with its state and attempt count. The ledger is the
// hook queue: runs are inserted as pending in the same transaction as the
// status change that caused them, claimed (pending -> running, attempts+1)
// in a committed transaction before the process is spawned, and finished
// as succeeded, failed, or pending again with a retry time.
//
// A file that is not a jobwatchd database, is corrupt, or cannot be opened
// is an error naming the file; it is never reset silently (and a file that
// is refused is not modified). Errors carry their kind: bad input (not
// ours, corrupt, newer schema, no permission) or runtime (busy, locked,
// I/O error, disk full), which decides the exit code at start.
//
// Times are stored as milliseconds since the epoch: WallTime values come
// back truncated to the millisecond, except a run's not_before, which is
// rounded up so a run is never claimable before the time it was given.
//
// Thread-safety: all methods may be called from any thread (the SQLite
// implementation serialises them with one mutex on one connection).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "status/job_facts.h"
#include "util/clock.h"
#include "util/result.h"

namespace jobwatch::state {

using status::JobSource;

// A job as stored: the shared job value (status/job_facts.h) plus what a
// restart needs to resume it.
struct StoredJob : status::Job {
  // Raw JSON of the last status change. Written empty (the daemon's own
  // statuses, such as timed_out, carry no body) it keeps the stored one.
  std::string last_body;
  int consecutive_errors = 0;
  // The account whose key polls the job (SPEC "Accounts"). Bound when the
  // job's row is first written: upserting an existing job never changes
  // it (a job cannot silently change account; loadJobs returns the stored
  // one, whatever a later write carried).
  std::string account = "default";
};

enum class HookRunState { kPending, kRunning, kSucceeded, kFailed };

// A hook run as recorded in the ledger, with everything needed to execute
// it even if the job has since been forgotten.
struct HookRun {
  std::int64_t run_id = 0;  // assigned by the store
  std::string job_id;
  std::string status;  // the status whose entry triggered the run
  std::string hook;
  std::string previous_status;
  status::JobFacts facts;  // the job's, when the transition happened
  status::Labels labels;
  // The job's JSON exactly as last received. Inserted empty, it is taken
  // from the job's stored last_body.
  std::string body;
  HookRunState state = HookRunState::kPending;
  int attempts = 0;  // runs started so far (JOBWATCH_ATTEMPT of the next run is attempts+1)
  WallTime not_before{};
  std::string last_error;
  // The hook wants the job's result (SPEC "Results"): the run is claimed
  // only once the job's result is done or given up, and comes back with
  // result_file (done) or result_error (gave up, or no result recorded).
  bool with_result = false;
  std::string result_file = {};
  std::string result_error = {};
  // The job's account when the run was recorded (JOBWATCH_ACCOUNT).
  std::string account = "default";
};

enum class ResultState { kPending, kDone, kGaveUp };

// A job's result (SPEC "Results"): one row per job, whatever the number of
// hooks that want it. Pending until fetched (done, with its file) or given
// up (with the reason); a final state is never changed back.
struct ResultRecord {
  std::string job_id;
  ResultState state = ResultState::kPending;
  std::string file;   // done: the result's path
  std::string error;  // gave up: why; pending: the last failure, if any
  int attempts = 0;   // fetches finished so far
  WallTime since{};   // when the result was first wanted (give_up_after counts from here)
  WallTime next_try{};
  // Read from the job's row (not stored with the result; "default" when
  // the job has none): which account's engine fetches it.
  std::string account = "default";
};

// One status change in a job's history (kept bounded per job:
// kHistoryPerJob newest, forgotten with the job).
struct TransitionEntry {
  std::string job_id;
  std::string from;  // the status before ("unknown" for a job never seen yet)
  std::string to;
  WallTime at{};
  std::string updated_at;  // the API's, as it said
};

// One started hook run (an attempt) in a job's history, bounded like the
// transitions. Written by the hook side when the run ended.
struct HookAttempt {
  std::int64_t run_id = 0;
  std::string job_id;
  std::string status;
  std::string hook;
  int attempt = 0;  // JOBWATCH_ATTEMPT of that run
  WallTime started{};
  std::chrono::milliseconds duration{0};
  std::optional<int> exit_code;  // set when the process exited
  std::string signal;            // "SIGTERM" when a signal ended it
  std::string result;            // success, failure, timeout, spawn_error
  std::string output;            // its last lines (kAttemptOutputLines, kAttemptOutputBytes)
};

inline constexpr size_t kHistoryPerJob = 50;  // transitions, and hook attempts, per job
inline constexpr size_t kAttemptOutputLines = 20;
inline constexpr size_t kAttemptOutputBytes = 4096;

// One transaction's worth of writes from the poll side.
struct WriteBatch {
  std::vector<StoredJob> jobs;    // inserted or replaced whole
  std::vector<HookRun> new_runs;  // inserted pending; an existing (job,status,hook) row is kept
  // Job IDs no longer watched (their ledger rows stay; tombstones go).
  std::vector<std::string> removed;
  // Finished jobs forgotten (state.forget_after): deleted with their
  // finished ledger rows; a watch-file job leaves a tombstone.
  std::vector<std::string> forgotten;
  // Results wanted or settled (upserted after new_runs; a final row is
  // kept). A forgotten job's result row goes with it.
  std::vector<ResultRecord> results = {};  // defaulted: older initialisers leave it out
  // Appended to the jobs' histories (defaulted, like results).
  std::vector<TransitionEntry> transitions = {};
  // A fleet's new jobs (SPEC "High availability"): inserted if the store
  // has no row for the ID, held by nobody (a fleet tick claims them);
  // an existing row is left as it is. Applied first. A single-machine
  // store inserts them the same way.
  std::vector<StoredJob> registered = {};
  bool empty() const {
    return jobs.empty() && new_runs.empty() && removed.empty() && forgotten.empty() &&
           results.empty() && transitions.empty() && registered.empty();
  }
};

// SPEC "High availability": instances sharing one store (PostgreSQL) split
// its jobs. Each job is held by one live instance (jobs.owner = that
// process's incarnation); an instance is live while its heartbeat row is
// younger than the lease. Every write of a job's row, history, results and
// new hook runs (WriteBatch) is fenced: it happens only where this process
// holds the job, otherwise it is skipped (not an error) and the job shows
// up in the next tick's `lost`. Hook runs are claimed with the claiming
// process as owner; a run whose owner is no longer live is pending again
// (the next claim makes it attempt+1). A single-machine store (SQLite) is
// not a fleet: fleet() is false and fleetTick() is never called.
struct FleetMember {
  std::string instance;     // state.instance
  std::string incarnation;  // this run of that instance (unique per process)
  WallTime started{};
  WallTime heartbeat{};
  size_t jobs_held = 0;
  bool self = false;
};

struct FleetTick {
  // Jobs newly held by this process (whole rows, as loadJobs returns
  // them) and the pending results among them.
  std::vector<StoredJob> claimed;
  std::vector<ResultRecord> claimed_results;
  // Jobs this process held (claimed, or restored by loadJobs) and holds no
  // more: another instance took them over while this one did not renew
  // (paused, cut off), or they were released for balance. Stop polling
  // them: their writes are fenced already.
  std::vector<std::string> lost;
  size_t held = 0;                   // jobs held after the tick
  std::vector<FleetMember> members;  // live instances, this one included
};

struct FleetTickOptions {
  // Claim free jobs (held by nobody, or by an instance that is not live)
  // up to this process's fair share (ceil(jobs / live members)), at most
  // max_claim per tick; false: only heartbeat and renew.
  bool claim = true;
  size_t max_claim = 2000;
  // Release jobs held beyond share + share/10 + 1 (a new member gets its
  // share), at most max_claim per tick; they appear in `lost`.
  bool balance = true;
};

enum class RunOutcome { kSucceeded, kRetry, kFailed };

// How StateStore::open treats a database another process holds locked (an
// operator's sqlite3 shell in a transaction, a backup tool): a runtime
// condition, waited out for up to `max_wait` (SQLite's busy timeout, then
// retries with backoff), then an ErrorKind::kRuntime error.
struct OpenOptions {
  static constexpr std::chrono::milliseconds kDefaultMaxWait{30'000};
  std::chrono::milliseconds max_wait = kDefaultMaxWait;
  // Told what is waited for before each pause (for the log); may be empty.
  std::function<void(const Error& error, std::chrono::milliseconds retry_in)> on_wait;
};

// The store's interface: SqliteStateStore (sqlite_state_store.h) is the
// implementation; a PostgreSQL one comes later, and tests decorate it
// (tests/unit/support/fault_injecting_state_store.h).
class StateStore {
 public:
  // Opens or creates the SQLite database (the directory must exist); see
  // SqliteStateStore::open. `clock` stamps ledger rows and tombstones and
  // must outlive the store.
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& path);
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& path,
                                                  const Clock& clock);
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& path,
                                                  const Clock& clock, const OpenOptions& options);
  virtual ~StateStore() = default;

  virtual const std::filesystem::path& path() const = 0;

  // Start-up.
  [[nodiscard]] virtual Result<std::vector<StoredJob>> loadJobs() = 0;
  // Runs left `running` by a process that died: back to pending, due now.
  [[nodiscard]] virtual Result<size_t> recoverInterruptedRuns() = 0;

  // Poll side: all batches, in order, in one transaction (within a batch:
  // jobs, then new_runs, then transitions, then forgotten, then removed).
  [[nodiscard]] virtual Status apply(const std::vector<WriteBatch>& batches) = 0;

  // Hook side. Claims up to `limit` pending runs due at `now` (oldest
  // first; a with_result run only once its job's result is no longer
  // pending): marks them running and increments attempts, committed before
  // returning.
  [[nodiscard]] virtual Result<std::vector<HookRun>> claimDueRuns(WallTime now, size_t limit) = 0;
  // Records how a claimed run ended; kRetry makes it pending at `retry_at`.
  // In a fleet, a run another process took over meanwhile is left as it is
  // (Ok: that process records it).
  [[nodiscard]] virtual Status finishRun(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                                         const std::string& last_error) = 0;
  // Claimed runs not finished (stop during a run): pending again, due now.
  [[nodiscard]] virtual Status releaseRun(std::int64_t run_id) = 0;
  // Adds a finished attempt to its job's history (bounded per job).
  [[nodiscard]] virtual Status recordAttempt(const HookAttempt& attempt) = 0;
  // Operator's retry: failed runs of these events ("<job_id>:<status>"; all
  // failed runs when `event_ids` is empty) become pending, due now, for one
  // more attempt; committed before returning. Returns the runs requeued.
  [[nodiscard]] virtual Result<std::vector<HookRun>> retryFailedRuns(
      const std::vector<std::string>& event_ids) = 0;
  // Earliest not_before among pending runs, if any.
  [[nodiscard]] virtual Result<std::optional<WallTime>> nextPendingAt() = 0;
  [[nodiscard]] virtual Result<size_t> countRuns(HookRunState state) = 0;

  // Forgotten watch-file jobs (WriteBatch::forgotten leaves a tombstone for
  // each) until they are `removed` in a WriteBatch, i.e. leave the watch
  // file: a job still listed there must not be watched, and hooked, all
  // over again.
  [[nodiscard]] virtual Result<std::vector<std::string>> loadForgotten() = 0;

  // Results not yet fetched nor given up (start-up: fetched again).
  [[nodiscard]] virtual Result<std::vector<ResultRecord>> loadPendingResults() = 0;
  // A job's result row, if any (tests, diagnostics).
  [[nodiscard]] virtual Result<std::optional<ResultRecord>> resultFor(
      const std::string& job_id) = 0;

  // Fleet (SPEC "High availability"); see FleetTick. A single-machine
  // store is no fleet: fleetTick() returns an error.
  virtual bool fleet() const { return false; }
  // Heartbeats this process's membership, reaps members whose heartbeat is
  // older than the lease (their jobs and running hook runs become free),
  // detects jobs lost, claims and releases as `options` say, all in one
  // transaction. An error (database unreachable) changes nothing.
  [[nodiscard]] virtual Result<FleetTick> fleetTick(const FleetTickOptions& options) {
    (void)options;
    return Error{"this state store is not shared by a fleet", ErrorKind::kRuntime};
  }
  // Graceful stop: frees the jobs and pending claims this process holds
  // and removes its membership, so the others take over at once.
  [[nodiscard]] virtual Status leaveFleet() { return Ok{}; }

  // Every ledger row for a job (tests, diagnostics).
  [[nodiscard]] virtual Result<std::vector<HookRun>> runsForJob(const std::string& job_id) = 0;
  // The ledger rows in `state`, most recently changed first, at most
  // `limit` (the status page's failed hooks).
  [[nodiscard]] virtual Result<std::vector<HookRun>> recentRuns(HookRunState state,
                                                                size_t limit) = 0;

 public:
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

 protected:
  StateStore() = default;
};

}  // namespace jobwatch::state
