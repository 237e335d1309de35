#include "state/state_store.h"

#include <chrono>
#include <cstdio>
#include <limits>
#include <mutex>
#include <string_view>
#include <utility>

#include "state/sqlite_db.h"
#include "util/job_id.h"
#include "util/log.h"

namespace jobwatch::state {
namespace {

using sqlite::Connection;
using sqlite::Query;
using sqlite::Statement;

// PRAGMA application_id: "JWch". Lets us tell our file from any other
// SQLite file at a glance (`file state.db` shows it too).
constexpr std::int64_t kApplicationId = 0x4A576368;
// PRAGMA user_version. Bump with a migration when the schema changes.
constexpr std::int64_t kSchemaVersion = 1;

// Stored codes. Explicit, never enum casts: the file outlives the code.
constexpr std::int64_t kSourceWatchFile = 0;
constexpr std::int64_t kSourceDropDir = 1;
constexpr std::int64_t kStatePending = 0;
constexpr std::int64_t kStateRunning = 1;
constexpr std::int64_t kStateSucceeded = 2;
constexpr std::int64_t kStateFailed = 3;

constexpr const char* kSchema = R"sql(
CREATE TABLE jobs (
  id                 TEXT PRIMARY KEY NOT NULL,
  source             INTEGER NOT NULL CHECK (source IN (0, 1)),  -- 0 watch file, 1 drop dir
  labels             TEXT NOT NULL,                -- JSON object of strings
  status             TEXT NOT NULL,                -- canonical
  terminal           INTEGER NOT NULL CHECK (terminal IN (0, 1)),
  status_raw         TEXT NOT NULL,
  type               TEXT NOT NULL,
  pdf_name           TEXT NOT NULL,
  pdf_hash           TEXT NOT NULL,
  error              TEXT NOT NULL,
  created_at         TEXT NOT NULL,                -- as the API said
  updated_at         TEXT NOT NULL,
  last_body          TEXT NOT NULL,                -- raw JSON
  added_at_ms        INTEGER NOT NULL,             -- ms since the epoch
  terminal_at_ms     INTEGER,
  consecutive_errors INTEGER NOT NULL
);
CREATE INDEX jobs_terminal_at ON jobs (terminal_at_ms) WHERE terminal = 1;
CREATE TABLE hook_runs (
  run_id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
  job_id          TEXT NOT NULL,
  status          TEXT NOT NULL,
  hook            TEXT NOT NULL,
  previous_status TEXT NOT NULL,
  status_raw      TEXT NOT NULL,
  type            TEXT NOT NULL,
  pdf_name        TEXT NOT NULL,
  pdf_hash        TEXT NOT NULL,
  error           TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  labels          TEXT NOT NULL,
  body            TEXT NOT NULL,
  state           INTEGER NOT NULL CHECK (state IN (0, 1, 2, 3)),  -- pending running succeeded failed
  attempts        INTEGER NOT NULL,
  not_before_ms   INTEGER NOT NULL,
  last_error      TEXT NOT NULL,
  created_ms      INTEGER NOT NULL,
  updated_ms      INTEGER NOT NULL,
  UNIQUE (job_id, status, hook)
);
CREATE INDEX hook_runs_due ON hook_runs (state, not_before_ms);
-- Watch-file jobs that were forgotten: kept so a job still listed in the
-- watch file is not watched (and its hooks run) all over again.
CREATE TABLE forgotten_jobs (
  id              TEXT PRIMARY KEY NOT NULL,
  forgotten_at_ms INTEGER NOT NULL
);
)sql";

constexpr std::string_view kJobColumns =
    "id, source, labels, status, terminal, status_raw, type, pdf_name, pdf_hash, error, "
    "created_at, updated_at, last_body, added_at_ms, terminal_at_ms, consecutive_errors";

constexpr std::string_view kRunColumns =
    "run_id, job_id, status, hook, previous_status, status_raw, type, pdf_name, pdf_hash, "
    "error, created_at, updated_at, labels, body, state, attempts, not_before_ms, last_error";

std::int64_t floorMs(WallTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
// not_before is rounded up: a run is never claimable before its time.
std::int64_t ceilMs(WallTime t) {
  return std::chrono::ceil<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
WallTime fromMs(std::int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

const char* stateName(std::int64_t code) {
  switch (code) {
    case kStatePending:
      return "pending";
    case kStateRunning:
      return "running";
    case kStateSucceeded:
      return "succeeded";
    case kStateFailed:
      return "failed";
    default:
      return "unknown";
  }
}

std::int64_t stateCode(HookRunState state) {
  switch (state) {
    case HookRunState::kPending:
      return kStatePending;
    case HookRunState::kRunning:
      return kStateRunning;
    case HookRunState::kSucceeded:
      return kStateSucceeded;
    case HookRunState::kFailed:
      return kStateFailed;
  }
  return kStatePending;  // unreachable: every enumerator handled
}

// ---- labels: a JSON object of strings. Keys and values are arbitrary bytes
// (escaped as the log writes them), so any UTF-8 round-trips exactly.

void encodeLabels(std::string& out, const std::map<std::string, std::string>& labels) {
  out += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += '"';
    appendJsonEscaped(out, key);
    out += "\":\"";
    appendJsonEscaped(out, value);
    out += '"';
  }
  out += '}';
}

void appendUtf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class LabelParser {
 public:
  explicit LabelParser(std::string_view text) : text_(text) {}

  bool parse(std::map<std::string, std::string>& out) {
    skipSpace();
    if (!eat('{')) return false;
    skipSpace();
    if (eat('}')) return atEnd();
    for (;;) {
      std::string key;
      std::string value;
      skipSpace();
      if (!string(key)) return false;
      skipSpace();
      if (!eat(':')) return false;
      skipSpace();
      if (!string(value)) return false;
      out.insert_or_assign(std::move(key), std::move(value));
      skipSpace();
      if (eat('}')) return atEnd();
      if (!eat(',')) return false;
    }
  }

 private:
  bool atEnd() {
    skipSpace();
    return pos_ == text_.size();
  }
  void skipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool eat(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool hex4(std::uint32_t& out) {
    if (text_.size() - pos_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ == text_.size()) return false;
      switch (text_[pos_++]) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair, if edited by hand
            std::uint32_t low = 0;
            if (!eat('\\') || !eat('u') || !hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          appendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

const Clock& systemClock() {
  static const SystemClock clock;  // stateless
  return clock;
}

// The API's facts, in the column order both tables use (status_raw, type,
// pdf_name, pdf_hash, error, created_at, updated_at).
status::JobFacts readFacts(const Query& q, int first) {
  status::JobFacts f;
  f.status_raw = q.text(first);
  f.type = q.text(first + 1);
  f.pdf_name = q.text(first + 2);
  f.pdf_hash = q.text(first + 3);
  f.error = q.text(first + 4);
  f.created_at = q.text(first + 5);
  f.updated_at = q.text(first + 6);
  return f;
}

Query& bindFacts(Query& q, const status::JobFacts& f) {
  return q.bind(f.status_raw)
      .bind(f.type)
      .bind(f.pdf_name)
      .bind(f.pdf_hash)
      .bind(f.error)
      .bind(f.created_at)
      .bind(f.updated_at);
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

  Status prepareAll();
  Result<StoredJob> readJob(const Query& q) const;
  Status forgetJob(const std::string& id);
  Result<HookRun> readRun(const Query& q) const;
  Error notRunning(std::int64_t run_id, std::string_view action);

  std::unique_ptr<Connection> db;
  const Clock& clock;
  std::mutex mu;         // serialises every public method on the one connection
  int fail_commits = 0;  // guarded by mu

  // Prepared once in open(), reused for the store's lifetime; guarded by mu.
  Statement upsert_job;
  Statement delete_job;
  Statement select_jobs;
  Statement insert_run;
  Statement recover_runs;
  Statement select_due;
  Statement claim_run;
  Statement finish_run;
  Statement release_run;
  Statement run_state;
  Statement next_pending;
  Statement count_runs;
  Statement runs_for_job;
  Statement forgettable_jobs;
  Statement delete_finished_runs;
  Statement insert_tombstone;
  Statement delete_tombstone;
  Statement select_tombstones;
};

Status StateStore::Impl::prepareAll() {
  const std::string job_cols(kJobColumns);
  const std::string run_cols(kRunColumns);
  struct Entry {
    Statement* stmt;
    std::string sql;
  };
  const Entry entries[] = {
      {&upsert_job,
       "INSERT INTO jobs (" + job_cols +
           ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) "
           "ON CONFLICT (id) DO UPDATE SET source = excluded.source, labels = excluded.labels, "
           "status = excluded.status, terminal = excluded.terminal, "
           "status_raw = excluded.status_raw, type = excluded.type, "
           "pdf_name = excluded.pdf_name, pdf_hash = excluded.pdf_hash, error = excluded.error, "
           "created_at = excluded.created_at, updated_at = excluded.updated_at, "
           "last_body = CASE WHEN excluded.last_body = '' THEN jobs.last_body "
           "ELSE excluded.last_body END, added_at_ms = excluded.added_at_ms, "
           "terminal_at_ms = excluded.terminal_at_ms, "
           "consecutive_errors = excluded.consecutive_errors"},
      {&delete_job, "DELETE FROM jobs WHERE id = ?1"},
      {&select_jobs, "SELECT " + job_cols + " FROM jobs ORDER BY id"},
      {&insert_run,
       "INSERT INTO hook_runs (job_id, status, hook, previous_status, status_raw, type, "
       "pdf_name, pdf_hash, error, created_at, updated_at, labels, body, state, attempts, "
       "not_before_ms, last_error, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
       "?8, ?9, ?10, ?11, ?12, "
       "COALESCE(NULLIF(?13, ''), (SELECT last_body FROM jobs WHERE id = ?1), ''), "
       "0, ?14, ?15, ?16, ?17, ?17) "
       "ON CONFLICT (job_id, status, hook) DO NOTHING"},
      {&recover_runs,
       "UPDATE hook_runs SET state = 0, not_before_ms = 0, updated_ms = ?1 WHERE state = 1"},
      {&select_due, "SELECT " + run_cols +
                        " FROM hook_runs WHERE state = 0 AND not_before_ms <= ?1 "
                        "ORDER BY not_before_ms, run_id LIMIT ?2"},
      {&claim_run,
       "UPDATE hook_runs SET state = 1, attempts = attempts + 1, updated_ms = ?1 "
       "WHERE run_id = ?2 AND state = 0"},
      {&finish_run,
       "UPDATE hook_runs SET state = ?1, not_before_ms = coalesce(?2, not_before_ms), "
       "last_error = ?3, updated_ms = ?4 WHERE run_id = ?5 AND state = 1"},
      {&release_run,
       "UPDATE hook_runs SET state = 0, not_before_ms = 0, updated_ms = ?1 "
       "WHERE run_id = ?2 AND state = 1"},
      {&run_state, "SELECT state FROM hook_runs WHERE run_id = ?1"},
      {&next_pending, "SELECT min(not_before_ms) FROM hook_runs WHERE state = 0"},
      {&count_runs, "SELECT count(*) FROM hook_runs WHERE state = ?1"},
      {&runs_for_job, "SELECT " + run_cols + " FROM hook_runs WHERE job_id = ?1 ORDER BY run_id"},
      {&forgettable_jobs,
       "SELECT id FROM jobs WHERE terminal = 1 AND terminal_at_ms < ?1 ORDER BY id"},
      {&delete_finished_runs, "DELETE FROM hook_runs WHERE job_id = ?1 AND state IN (2, 3)"},
      {&insert_tombstone,
       "INSERT OR REPLACE INTO forgotten_jobs (id, forgotten_at_ms) "
       "SELECT id, ?2 FROM jobs WHERE id = ?1 AND source = 0"},
      {&delete_tombstone, "DELETE FROM forgotten_jobs WHERE id = ?1"},
      {&select_tombstones, "SELECT id FROM forgotten_jobs ORDER BY id"},
  };
  for (const auto& entry : entries) {
    auto stmt = db->prepare(entry.sql);
    if (!stmt) return stmt.error();
    *entry.stmt = std::move(stmt).value();
  }
  return Ok{};
}

// Deletes a job and its finished ledger rows; a watch-file job leaves a
// tombstone (see forgetTerminalBefore). Inside a transaction.
Status StateStore::Impl::forgetJob(const std::string& id) {
  {
    Query q(*db, delete_finished_runs, "forgetting a finished job");
    q.bind(id);
    if (auto ran = q.run(); !ran) return ran;
  }
  {
    Query q(*db, insert_tombstone, "forgetting a finished job");
    q.bind(id).bind(floorMs(clock.wallNow()));
    if (auto ran = q.run(); !ran) return ran;
  }
  Query q(*db, delete_job, "forgetting a finished job");
  q.bind(id);
  return q.run();
}

Result<StoredJob> StateStore::Impl::readJob(const Query& q) const {
  StoredJob job;
  job.id = q.text(0);
  const std::int64_t source = q.int64(1);
  if (source == kSourceWatchFile) {
    job.source = JobSource::kWatchFile;
  } else if (source == kSourceDropDir) {
    job.source = JobSource::kDropDir;
  } else {
    return db->error("job " + job.id + " has an unknown source code " + std::to_string(source));
  }
  if (!LabelParser(q.text(2)).parse(job.labels)) {
    return db->error("job " + job.id + " has unreadable labels");
  }
  job.status = q.text(3);
  job.terminal = q.int64(4) != 0;
  job.facts = readFacts(q, 5);
  job.last_body = q.text(12);
  job.added_at = fromMs(q.int64(13));
  if (auto terminal_at = q.optionalInt64(14)) job.terminal_at = fromMs(*terminal_at);
  // (NULL stays the epoch: not terminal)
  job.consecutive_errors = static_cast<int>(q.int64(15));
  return job;
}

Result<HookRun> StateStore::Impl::readRun(const Query& q) const {
  HookRun run;
  run.run_id = q.int64(0);
  run.job_id = q.text(1);
  run.status = q.text(2);
  run.hook = q.text(3);
  run.previous_status = q.text(4);
  run.facts = readFacts(q, 5);
  if (!LabelParser(q.text(12)).parse(run.labels)) {
    return db->error("hook run " + std::to_string(run.run_id) + " has unreadable labels");
  }
  run.body = q.text(13);
  switch (q.int64(14)) {
    case kStatePending:
      run.state = HookRunState::kPending;
      break;
    case kStateRunning:
      run.state = HookRunState::kRunning;
      break;
    case kStateSucceeded:
      run.state = HookRunState::kSucceeded;
      break;
    case kStateFailed:
      run.state = HookRunState::kFailed;
      break;
    default:
      return db->error("hook run " + std::to_string(run.run_id) + " has an unknown state code " +
                       std::to_string(q.int64(14)));
  }
  run.attempts = static_cast<int>(q.int64(15));
  run.not_before = fromMs(q.int64(16));
  run.last_error = q.text(17);
  return run;
}

// Why finishRun/releaseRun changed nothing: a caller bug worth a clear message.
Error StateStore::Impl::notRunning(std::int64_t run_id, std::string_view action) {
  const std::string what = "hook run " + std::to_string(run_id);
  Query q(*db, run_state, "looking up a hook run");
  q.bind(run_id);
  auto row = q.step();
  if (!row) return row.error();
  if (!*row) return db->error(what + " does not exist; " + std::string(action) + " not recorded");
  return db->error(what + " is not running (it is " + stateName(q.int64(0)) + "); " +
                   std::string(action) + " not recorded");
}

// ---- open

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path) {
  return open(path, systemClock());
}

Result<std::unique_ptr<StateStore>> StateStore::open(const std::filesystem::path& path,
                                                     const Clock& clock) {
  auto connection = Connection::open(path);
  if (!connection) return connection.error();
  auto impl = std::make_unique<Impl>(std::move(connection).value(), clock);
  Connection& db = *impl->db;
  const std::string name = path.string();

  const auto notOurs = [&](const std::string& why) {
    return Error{name + ": not a jobwatchd state database (" + why +
                 "); check state.path, or move the file (with any -wal and -shm files beside it) "
                 "away to start afresh"};
  };
  const auto corrupt = [&](const std::string& why) {
    return Error{name + ": state database is corrupt (" + why +
                 "); move it (with any -wal and -shm files beside it) away to start afresh, "
                 "knowing that hooks already run may then run again"};
  };
  // A failed read: which of the above it is, or a plain error (locked, I/O).
  const auto readFailure = [&](const Error& error) {
    switch (db.lastFault()) {
      case Connection::Fault::kNotADatabase:
        return notOurs("file is not a database");
      case Connection::Fault::kCorrupt:
        return corrupt("database disk image is malformed");
      case Connection::Fault::kOther:
        break;
    }
    return error;
  };

  // Until the file is known to be ours, only read it: a refused file must be
  // left exactly as it was (no WAL switch, no schema, no checkpoint on close).
  auto application_id = db.integer("PRAGMA application_id", "reading the file header");
  if (!application_id) return readFailure(application_id.error());
  auto page_count = db.integer("PRAGMA page_count", "reading the file header");
  if (!page_count) return readFailure(page_count.error());
  if (*page_count > 0) {
    auto check = db.column("PRAGMA quick_check", "checking integrity");
    if (!check) return readFailure(check.error());
    if (check->size() != 1 || check->front() != "ok") {
      std::string why =
          "quick_check: " + (check->empty() ? std::string("no answer") : check->front());
      if (check->size() > 1) why += " and " + std::to_string(check->size() - 1) + " more problems";
      return corrupt(why);
    }
  }
  auto user_version = db.integer("PRAGMA user_version", "reading the file header");
  if (!user_version) return readFailure(user_version.error());
  auto tables = db.column(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE "
      "'\\' "
      "ORDER BY name",
      "reading the schema");
  if (!tables) return readFailure(tables.error());

  bool fresh = false;
  if (*application_id != kApplicationId) {
    if (*application_id == 0 && *user_version == 0 && tables->empty()) {
      fresh = true;  // a new (or empty) file
    } else if (!tables->empty()) {
      std::string list;
      for (size_t i = 0; i < tables->size() && i < 5; ++i) {
        if (i > 0) list += ", ";
        list += quoteForMessage((*tables)[i], 40);  // the file is not ours: untrusted
      }
      if (tables->size() > 5) list += ", ...";
      return notOurs("an SQLite database with other tables: " + list);
    } else {
      char id[16];
      std::snprintf(id, sizeof id, "0x%08llx",
                    static_cast<unsigned long long>(*application_id) & 0xffffffffULL);
      return notOurs(std::string("an SQLite database of another application, id ") + id);
    }
  } else if (*user_version > kSchemaVersion) {
    return Error{name + ": state database has schema version " + std::to_string(*user_version) +
                 ", newer than this jobwatchd understands (" + std::to_string(kSchemaVersion) +
                 "); run the newer jobwatchd"};
  } else if (*user_version < kSchemaVersion) {
    return corrupt("jobwatchd database with unknown schema version " +
                   std::to_string(*user_version));
  }

  auto journal = db.column("PRAGMA journal_mode = WAL", "switching to WAL journal mode");
  if (!journal) return journal.error();
  if (journal->size() != 1 || journal->front() != "wal") {
    return db.error("cannot use WAL journal mode (SQLite kept \"" +
                    (journal->empty() ? std::string() : journal->front()) + "\")");
  }
  if (auto s = db.exec("PRAGMA synchronous = FULL", "setting synchronous = FULL"); !s) {
    return s.error();
  }
  if (fresh) {
    if (auto s = db.begin(); !s) return s.error();
    Status created =
        db.exec(std::string(kSchema) + "PRAGMA application_id = " + std::to_string(kApplicationId) +
                    "; PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";",
                "creating the schema");
    if (!created) {
      db.rollback();
      return created.error();
    }
    if (auto s = db.commit(); !s) return s.error();
  }
  // Ours: a clean close may now fold the WAL back into the main file.
  db.setCheckpointOnClose(true);
  if (auto s = impl->prepareAll(); !s) return s.error();
  return std::unique_ptr<StateStore>(new StateStore(std::move(impl)));
}

StateStore::StateStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StateStore::~StateStore() = default;

const std::filesystem::path& StateStore::path() const { return impl_->db->path(); }

void StateStore::failNextCommitsForTest(int n) {
  std::lock_guard lock(impl_->mu);
  impl_->fail_commits = n;
}

// ---- jobs

Result<std::vector<StoredJob>> StateStore::loadJobs() {
  std::lock_guard lock(impl_->mu);
  std::vector<StoredJob> jobs;
  Query q(*impl_->db, impl_->select_jobs, "loading jobs");
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) break;
    auto job = impl_->readJob(q);
    if (!job) return job.error();
    jobs.push_back(std::move(job).value());
  }
  return jobs;
}

Status StateStore::apply(const std::vector<WriteBatch>& batches) {
  std::lock_guard lock(impl_->mu);
  bool any = false;
  for (const auto& batch : batches) any = any || !batch.empty();
  if (!any) return Ok{};
  Impl& s = *impl_;
  const std::int64_t now_ms = floorMs(s.clock.wallNow());
  return s.transaction([&]() -> Status {
    std::string labels;  // reused; bound without copying, so it outlives each Query
    for (const auto& batch : batches) {
      for (const auto& job : batch.jobs) {
        labels.clear();
        encodeLabels(labels, job.labels);
        std::optional<std::int64_t> terminal_at;
        if (job.terminal_at != WallTime{}) terminal_at = floorMs(job.terminal_at);
        Query q(*s.db, s.upsert_job, "saving a job");
        q.bind(job.id)
            .bind(job.source == JobSource::kDropDir ? kSourceDropDir : kSourceWatchFile)
            .bind(labels)
            .bind(job.status)
            .bind(std::int64_t{job.terminal ? 1 : 0});
        bindFacts(q, job.facts)
            .bind(job.last_body)
            .bind(floorMs(job.added_at))
            .bind(terminal_at)
            .bind(std::int64_t{job.consecutive_errors});
        if (auto done = q.run(); !done) return done;
      }
      for (const auto& run : batch.new_runs) {
        labels.clear();
        encodeLabels(labels, run.labels);
        Query q(*s.db, s.insert_run, "recording a hook run");
        q.bind(run.job_id)
            .bind(run.status)
            .bind(run.hook)
            .bind(run.previous_status);
        bindFacts(q, run.facts)
            .bind(labels)
            .bind(run.body)
            .bind(std::int64_t{run.attempts})
            .bind(ceilMs(run.not_before))
            .bind(run.last_error)
            .bind(now_ms);
        if (auto done = q.run(); !done) return done;
      }
      for (const auto& id : batch.forgotten) {
        if (auto ran = s.forgetJob(id); !ran) return ran;
      }
      for (const auto& id : batch.removed) {
        {
          Query q(*s.db, s.delete_job, "removing a job");
          q.bind(id);
          if (auto done = q.run(); !done) return done;
        }
        Query q(*s.db, s.delete_tombstone, "removing a job");
        q.bind(id);
        if (auto done = q.run(); !done) return done;
      }
    }
    return Ok{};
  });
}

// ---- hook ledger

Result<size_t> StateStore::recoverInterruptedRuns() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  size_t recovered = 0;
  Status done = s.transaction([&]() -> Status {
    Query q(*s.db, s.recover_runs, "recovering interrupted hook runs");
    q.bind(floorMs(s.clock.wallNow()));
    if (auto ran = q.run(); !ran) return ran;
    recovered = static_cast<size_t>(s.db->changes());
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
  const std::int64_t now_ms = floorMs(now);
  Status done = s.transaction([&]() -> Status {
    {
      Query q(*s.db, s.select_due, "claiming due hook runs");
      q.bind(now_ms).bind(sql_limit);
      for (;;) {
        auto row = q.step();
        if (!row) return row.error();
        if (!*row) break;
        auto run = s.readRun(q);
        if (!run) return run.error();
        runs.push_back(std::move(run).value());
      }
    }
    for (auto& run : runs) {
      Query q(*s.db, s.claim_run, "claiming due hook runs");
      q.bind(floorMs(s.clock.wallNow())).bind(run.run_id);
      if (auto ran = q.run(); !ran) return ran;
      run.state = HookRunState::kRunning;
      ++run.attempts;
    }
    return Ok{};
  });
  if (!done) return done.error();
  return runs;
}

Status StateStore::finishRun(std::int64_t run_id, RunOutcome outcome, WallTime retry_at,
                             const std::string& last_error) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::int64_t state = kStateFailed;
  std::optional<std::int64_t> not_before;
  switch (outcome) {
    case RunOutcome::kSucceeded:
      state = kStateSucceeded;
      break;
    case RunOutcome::kFailed:
      state = kStateFailed;
      break;
    case RunOutcome::kRetry:
      state = kStatePending;
      not_before = ceilMs(retry_at);
      break;
  }
  return s.transaction([&]() -> Status {
    {
      Query q(*s.db, s.finish_run, "recording a hook run's outcome");
      q.bind(state).bind(not_before).bind(last_error).bind(floorMs(s.clock.wallNow())).bind(run_id);
      if (auto ran = q.run(); !ran) return ran;
    }
    if (s.db->changes() == 0) return s.notRunning(run_id, "outcome");
    return Ok{};
  });
}

Status StateStore::releaseRun(std::int64_t run_id) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  return s.transaction([&]() -> Status {
    {
      Query q(*s.db, s.release_run, "releasing a hook run");
      q.bind(floorMs(s.clock.wallNow())).bind(run_id);
      if (auto ran = q.run(); !ran) return ran;
    }
    if (s.db->changes() == 0) return s.notRunning(run_id, "release");
    return Ok{};
  });
}

Result<std::optional<WallTime>> StateStore::nextPendingAt() {
  std::lock_guard lock(impl_->mu);
  Query q(*impl_->db, impl_->next_pending, "looking for pending hook runs");
  auto row = q.step();
  if (!row) return row.error();
  std::optional<WallTime> next;
  if (*row) {
    if (auto ms = q.optionalInt64(0)) next = fromMs(*ms);
  }
  return next;
}

Result<size_t> StateStore::countRuns(HookRunState state) {
  std::lock_guard lock(impl_->mu);
  Query q(*impl_->db, impl_->count_runs, "counting hook runs");
  q.bind(stateCode(state));
  auto row = q.step();
  if (!row) return row.error();
  return *row ? static_cast<size_t>(q.int64(0)) : size_t{0};
}

Result<std::vector<std::string>> StateStore::forgetTerminalBefore(WallTime cutoff) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::vector<std::string> forgotten;
  Status done = s.transaction([&]() -> Status {
    {
      Query q(*s.db, s.forgettable_jobs, "forgetting old terminal jobs");
      q.bind(floorMs(cutoff));
      for (;;) {
        auto row = q.step();
        if (!row) return row.error();
        if (!*row) break;
        forgotten.push_back(q.text(0));
      }
    }
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
  std::vector<std::string> ids;
  Query q(*impl_->db, impl_->select_tombstones, "reading forgotten jobs");
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) break;
    ids.push_back(q.text(0));
  }
  return ids;
}

Result<std::vector<HookRun>> StateStore::runsForJob(const std::string& job_id) {
  std::lock_guard lock(impl_->mu);
  std::vector<HookRun> runs;
  Query q(*impl_->db, impl_->runs_for_job, "reading a job's hook runs");
  q.bind(job_id);
  for (;;) {
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) break;
    auto run = impl_->readRun(q);
    if (!run) return run.error();
    runs.push_back(std::move(run).value());
  }
  return runs;
}

}  // namespace jobwatch::state
