// SPDX-License-Identifier: Apache-2.0
#include "state/sqlite_state_store.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "state/hook_ledger.h"
#include "state/job_table.h"
#include "state/label_table.h"
#include "state/sqlite_db.h"
#include "state/state_schema.h"
#include "state/stored_codes.h"

namespace jobwatch::state {
namespace {

using sqlite::Connection;
using stored::floorMs;

const Clock& systemClock() {
  static const SystemClock clock;  // stateless
  return clock;
}

}  // namespace

template <typename Body>
Status SqliteStateStore::transaction(Body&& body) {
  if (auto began = db_->begin(); !began) return began;
  Status done = body();
  if (!done) {
    db_->rollback();
    return done;
  }
  return db_->commit();
}

Status SqliteStateStore::prepareTables() {
  if (auto s = labels_.prepare(*db_); !s) return s;
  if (auto s = jobs_.prepare(*db_, labels_); !s) return s;
  if (auto s = results_.prepare(*db_); !s) return s;
  if (auto s = history_.prepare(*db_); !s) return s;
  return ledger_.prepare(*db_, labels_);
}

Status SqliteStateStore::forgetJob(const std::string& id) {
  if (auto done = ledger_.deleteFinished(id); !done) return done;
  if (auto done = results_.remove(id); !done) return done;
  if (auto done = history_.forget(id); !done) return done;
  return jobs_.forget(id, floorMs(clock_.wallNow()));
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path) {
  return open(path, systemClock());
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path,
                                                     const Clock& clock) {
  return open(path, clock, OpenOptions{});
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path,
                                                     const Clock& clock,
                                                     const OpenOptions& options) {
  auto store = SqliteStateStore::open(path, clock, options);
  if (!store) return store.error();
  return std::unique_ptr<StateStore>(std::move(store).value());
}

Result<std::unique_ptr<SqliteStateStore>> SqliteStateStore::open(const std::filesystem::path& path,
                                                                 const Clock& clock,
                                                                 const OpenOptions& options) {
  using std::chrono::milliseconds;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options.max_wait;
  milliseconds delay{250};
  for (;;) {
    bool busy = false;
    auto store = openOnce(path, clock, busy);
    if (store || !busy) return store;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      const auto waited = std::chrono::duration_cast<std::chrono::seconds>(now - start);
      return Error{store.error().message + "; still locked by another process after " +
                       std::to_string(waited.count()) +
                       " s (an open sqlite3 shell or a backup?); exiting so that the service "
                       "manager starts jobwatchd again",
                   ErrorKind::kRuntime};
    }
    const auto pause =
        std::min(delay, std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1));
    if (options.on_wait) options.on_wait(store.error(), pause);
    std::this_thread::sleep_for(pause);
    delay = std::min(delay * 2, milliseconds(4000));
  }
}

Result<std::unique_ptr<SqliteStateStore>> SqliteStateStore::openOnce(
    const std::filesystem::path& path, const Clock& clock, bool& busy) {
  auto connection = Connection::open(path);
  if (!connection) return connection.error();
  std::unique_ptr<SqliteStateStore> store(
      new SqliteStateStore(std::move(connection).value(), clock));
  Connection& db = *store->db_;
  const auto failed = [&](const Error& error) {
    busy = db.lastFault() == Connection::Fault::kBusy;
    return error;
  };
  if (auto ready = schema::prepare(db); !ready) return failed(ready.error());
  // Reading is not enough: the first write (recovering runs) must not be
  // the one to find the database locked.
  if (auto began = db.begin(); !began) return failed(began.error());
  db.rollback();
  if (auto prepared = store->prepareTables(); !prepared) return failed(prepared.error());
  return store;
}

SqliteStateStore::SqliteStateStore(std::unique_ptr<Connection> db, const Clock& clock)
    : db_(std::move(db)), clock_(clock) {}

const std::filesystem::path& SqliteStateStore::path() const { return db_->path(); }

Result<std::vector<StoredJob>> SqliteStateStore::loadJobs() {
  std::lock_guard lock(mu_);
  return jobs_.loadAll();
}

Status SqliteStateStore::apply(const std::vector<WriteBatch>& batches) {
  std::lock_guard lock(mu_);
  bool any = false;
  for (const auto& batch : batches) any = any || !batch.empty();
  if (!any) return Ok{};
  const std::int64_t now_ms = floorMs(clock_.wallNow());
  return transaction([&]() -> Status {
    for (const auto& batch : batches) {
      for (const auto& job : batch.registered) {
        if (auto done = jobs_.insertIfAbsent(job); !done) return done;
      }
      for (const auto& job : batch.jobs) {
        if (auto done = jobs_.upsert(job); !done) return done;
      }
      for (const auto& run : batch.new_runs) {
        if (auto done = ledger_.insert(run, now_ms); !done) return done;
      }
      for (const auto& result : batch.results) {
        if (auto done = results_.upsert(result, now_ms); !done) return done;
      }
      for (const auto& entry : batch.transitions) {
        if (auto done = history_.addTransition(entry); !done) return done;
      }
      for (const auto& id : batch.forgotten) {
        if (auto done = forgetJob(id); !done) return done;
      }
      for (const auto& id : batch.removed) {  // no longer watched: its history goes too
        if (auto done = jobs_.remove(id); !done) return done;
        if (auto done = history_.forget(id); !done) return done;
      }
    }
    return Ok{};
  });
}

Result<size_t> SqliteStateStore::recoverInterruptedRuns() {
  std::lock_guard lock(mu_);
  size_t recovered = 0;
  Status done = transaction([&]() -> Status {
    auto n = ledger_.recoverInterrupted(floorMs(clock_.wallNow()));
    if (!n) return n.error();
    recovered = *n;
    return Ok{};
  });
  if (!done) return done.error();
  return recovered;
}

Result<std::vector<HookRun>> SqliteStateStore::claimDueRuns(WallTime now, size_t limit) {
  std::lock_guard lock(mu_);
  std::vector<HookRun> runs;
  if (limit == 0) return runs;
  const auto max_limit = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  const auto sql_limit = static_cast<std::int64_t>(limit < max_limit ? limit : max_limit);
  Status done = transaction([&]() -> Status {
    auto claimed = ledger_.claimDue(floorMs(now), sql_limit, floorMs(clock_.wallNow()));
    if (!claimed) return claimed.error();
    runs = std::move(claimed).value();
    return Ok{};
  });
  if (!done) return done.error();
  return runs;
}

Status SqliteStateStore::finishRun(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                                   const std::string& last_error) {
  std::lock_guard lock(mu_);
  return transaction([&] {
    return ledger_.finish(run_id, outcome, retry_at, last_error, floorMs(clock_.wallNow()));
  });
}

Status SqliteStateStore::releaseRun(std::int64_t run_id) {
  std::lock_guard lock(mu_);
  return transaction([&] { return ledger_.release(run_id, floorMs(clock_.wallNow())); });
}

Status SqliteStateStore::recordAttempt(const HookAttempt& attempt) {
  std::lock_guard lock(mu_);
  return transaction([&] { return history_.addAttempt(attempt); });
}

Result<std::vector<HookRun>> SqliteStateStore::retryFailedRuns(
    const std::vector<std::string>& event_ids) {
  std::lock_guard lock(mu_);
  std::vector<HookRun> requeued;
  const std::int64_t now_ms = floorMs(clock_.wallNow());
  Status done = transaction([&]() -> Status {
    const std::vector<std::string> all{""};
    for (const std::string& event : event_ids.empty() ? all : event_ids) {
      stored::EventRef ref;  // empty: every failed run
      if (!event.empty()) {
        auto parsed = stored::parseEventId(event);
        if (!parsed) return parsed.error();
        ref = std::move(parsed).value();
      }
      auto runs = ledger_.retryFailed(ref.job_id, ref.status, now_ms);
      if (!runs) return runs.error();
      for (auto& run : std::move(runs).value()) requeued.push_back(std::move(run));
    }
    return Ok{};
  });
  if (!done) return done.error();
  return requeued;
}

Result<std::optional<WallTime>> SqliteStateStore::nextPendingAt() {
  std::lock_guard lock(mu_);
  return ledger_.nextPendingAt();
}

Result<size_t> SqliteStateStore::countRuns(HookRunState state) {
  std::lock_guard lock(mu_);
  return ledger_.count(state);
}

Result<std::vector<std::string>> SqliteStateStore::loadForgotten() {
  std::lock_guard lock(mu_);
  return jobs_.tombstones();
}

Result<std::vector<HookRun>> SqliteStateStore::runsForJob(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return ledger_.forJob(job_id);
}

Result<std::vector<HookRun>> SqliteStateStore::recentRuns(HookRunState state, size_t limit) {
  std::lock_guard lock(mu_);
  return ledger_.recent(state, limit);
}

Result<std::vector<ResultRecord>> SqliteStateStore::loadPendingResults() {
  std::lock_guard lock(mu_);
  return results_.pending();
}

Result<std::optional<ResultRecord>> SqliteStateStore::resultFor(const std::string& job_id) {
  std::lock_guard lock(mu_);
  return results_.find(job_id);
}

}  // namespace jobwatch::state
