#include "state/state_store.h"

#include <limits>
#include <mutex>
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

struct StateStore::Impl {
  Impl(std::unique_ptr<Connection> connection, const Clock& c)
      : db(std::move(connection)), clock(c) {}

  // Runs `body` in a BEGIN IMMEDIATE transaction; commits if it succeeded,
  // rolls back otherwise. Every write goes through here.
  template <typename Body>
  Status transaction(Body&& body) {
    if (auto began = db->begin(); !began) return began;
    Status done = body();
    if (!done) {
      db->rollback();
      return done;
    }
    if (fail_commits > 0) {
      --fail_commits;
      db->rollback();
      return db->error("disk I/O error injected by failNextCommitsForTest (while committing)");
    }
    return db->commit();
  }

  Status prepare() {
    if (auto s = labels.prepare(*db); !s) return s;
    if (auto s = jobs.prepare(*db, labels); !s) return s;
    return ledger.prepare(*db, labels);
  }

  // Deletes a job and its finished ledger rows; a watch-file job leaves a
  // tombstone. Inside a transaction.
  Status forgetJob(const std::string& id) {
    if (auto done = ledger.deleteFinished(id); !done) return done;
    return jobs.forget(id, floorMs(clock.wallNow()));
  }

  std::unique_ptr<Connection> db;
  const Clock& clock;
  std::mutex mu;         // serialises every public method on the one connection
  int fail_commits = 0;  // guarded by mu
  LabelTable labels;     // the tables' statements: guarded by mu
  JobTable jobs;
  HookLedger ledger;
};

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path) {
  return open(path, systemClock());
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path,
                                                     const Clock& clock) {
  auto connection = Connection::open(path);
  if (!connection) return connection.error();
  auto impl = std::make_unique<Impl>(std::move(connection).value(), clock);
  if (auto ready = schema::prepare(*impl->db); !ready) return ready.error();
  if (auto prepared = impl->prepare(); !prepared) return prepared.error();
  return std::unique_ptr<StateStore>(new StateStore(std::move(impl)));
}

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateStore::~StateStore() = default;

const std::filesystem::path& StateStore::path() const { return impl_->db->path(); }

void StateStore::failNextCommitsForTest(int n) {
  std::lock_guard lock(impl_->mu);
  impl_->fail_commits = n;
}

Result<std::vector<StoredJob>> StateStore::loadJobs() {
  std::lock_guard lock(impl_->mu);
  return impl_->jobs.loadAll();
}

Status StateStore::apply(const std::vector<WriteBatch>& batches) {
  std::lock_guard lock(impl_->mu);
  bool any = false;
  for (const auto& batch : batches) any = any || !batch.empty();
  if (!any) return Ok{};
  Impl& s = *impl_;
  const std::int64_t now_ms = floorMs(s.clock.wallNow());
  return s.transaction([&]() -> Status {
    for (const auto& batch : batches) {
      for (const auto& job : batch.jobs) {
        if (auto done = s.jobs.upsert(job); !done) return done;
      }
      for (const auto& run : batch.new_runs) {
        if (auto done = s.ledger.insert(run, now_ms); !done) return done;
      }
      for (const auto& id : batch.forgotten) {
        if (auto done = s.forgetJob(id); !done) return done;
      }
      for (const auto& id : batch.removed) {
        if (auto done = s.jobs.remove(id); !done) return done;
      }
    }
    return Ok{};
  });
}

Result<size_t> StateStore::recoverInterruptedRuns() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  size_t recovered = 0;
  Status done = s.transaction([&]() -> Status {
    auto n = s.ledger.recoverInterrupted(floorMs(s.clock.wallNow()));
    if (!n) return n.error();
    recovered = *n;
    return Ok{};
  });
  if (!done) return done.error();
  return recovered;
}

Result<std::vector<HookRun>> StateStore::claimDueRuns(WallTime now, size_t limit) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::vector<HookRun> runs;
  if (limit == 0) return runs;
  const auto max_limit = static_cast<size_t>(std::numeric_limits<std::int64_t>::max());
  const auto sql_limit = static_cast<std::int64_t>(limit < max_limit ? limit : max_limit);
  Status done = s.transaction([&]() -> Status {
    auto claimed = s.ledger.claimDue(floorMs(now), sql_limit, floorMs(s.clock.wallNow()));
    if (!claimed) return claimed.error();
    runs = std::move(claimed).value();
    return Ok{};
  });
  if (!done) return done.error();
  return runs;
}

Status StateStore::finishRun(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                             const std::string& last_error) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  return s.transaction([&] {
    return s.ledger.finish(run_id, outcome, retry_at, last_error, floorMs(s.clock.wallNow()));
  });
}

Status StateStore::releaseRun(std::int64_t run_id) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  return s.transaction([&] { return s.ledger.release(run_id, floorMs(s.clock.wallNow())); });
}

Result<std::optional<WallTime>> StateStore::nextPendingAt() {
  std::lock_guard lock(impl_->mu);
  return impl_->ledger.nextPendingAt();
}

Result<size_t> StateStore::countRuns(HookRunState state) {
  std::lock_guard lock(impl_->mu);
  return impl_->ledger.count(state);
}

Result<std::vector<std::string>> StateStore::forgetTerminalBefore(WallTime cutoff) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::vector<std::string> forgotten;
  Status done = s.transaction([&]() -> Status {
    auto ids = s.jobs.terminalBefore(floorMs(cutoff));
    if (!ids) return ids.error();
    forgotten = std::move(ids).value();
    for (const auto& id : forgotten) {
      if (auto ran = s.forgetJob(id); !ran) return ran;
    }
    return Ok{};
  });
  if (!done) return done.error();
  return forgotten;
}

Result<std::vector<std::string>> StateStore::loadForgotten() {
  std::lock_guard lock(impl_->mu);
  return impl_->jobs.tombstones();
}

Result<std::vector<HookRun>> StateStore::runsForJob(const std::string& job_id) {
  std::lock_guard lock(impl_->mu);
  return impl_->ledger.forJob(job_id);
}

}  // namespace jobwatch::state
