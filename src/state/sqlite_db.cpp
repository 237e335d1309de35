// SPDX-License-Identifier: Apache-2.0
#include "state/sqlite_db.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace jobwatch::state::sqlite {
namespace {

// How long a statement waits for another connection's lock (an operator's
// sqlite3 shell, a backup) before failing with "database is locked".
constexpr int kBusyTimeoutMs = 5000;

std::string errnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// Whether the OS error behind `rc` is worth showing ("No space left on
// device"). SQLite records errno only for these two, and keeps it
// afterwards, so for other codes it would be stale.
bool carriesErrno(int rc) { return (rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_CANTOPEN; }

// Whether a failure may pass by itself (restarting helps: exit 3) or is the
// file's or the operator's to fix (exit 1). `err` is the OS error, if any.
ErrorKind kindOf(int rc, int err) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_INTERRUPT:
      return ErrorKind::kRuntime;
    case SQLITE_CANTOPEN:
      // No permission, no such directory: the operator's to fix. Out of
      // file descriptors, an I/O error: may pass.
      return err == EACCES || err == EPERM || err == ENOENT || err == ENOTDIR || err == EISDIR ||
                     err == ELOOP || err == EROFS || err == 0
                 ? ErrorKind::kBadInput
                 : ErrorKind::kRuntime;
    default:
      return ErrorKind::kBadInput;
  }
}

}  // namespace

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::filesystem::path& path) {
  const std::string name = path.string();
  // SQLite only says "unable to open database file"; say which part is missing.
  const std::filesystem::path parent = path.parent_path();
  if (!parent.empty()) {
    struct stat st {};
    if (::stat(parent.c_str(), &st) != 0) {
      return Error{name + ": cannot open state database: directory " + parent.string() + ": " +
                   errnoText(errno)};
    }
    if (!S_ISDIR(st.st_mode)) {
      return Error{name + ": cannot open state database: " + parent.string() +
                   " is not a directory"};
    }
  }

  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = name + ": cannot open state database: ";
    message += raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    const int err = raw != nullptr ? sqlite3_system_errno(raw) : 0;
    if (err != 0) message += ": " + errnoText(err);
    sqlite3_close_v2(raw);
    return Error{std::move(message), kindOf(rc, err)};
  }
  std::unique_ptr<Connection> conn(new Connection(path, raw));
  sqlite3_extended_result_codes(raw, 1);
  conn->setCheckpointOnClose(false);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  // SQLite falls back to read-only when the file is write-protected; we
  // would then fail on the first write, long after start-up.
  if (sqlite3_db_readonly(raw, "main") == 1) {
    const std::string why = ::access(name.c_str(), W_OK) != 0 ? errnoText(errno) : "read-only";
    return Error{name + ": cannot open state database for writing (" + why +
                 "); jobwatchd needs to write it"};
  }

  auto begin = conn->prepare("BEGIN IMMEDIATE");
  if (!begin) return begin.error();
  auto commit = conn->prepare("COMMIT");
  if (!commit) return commit.error();
  auto rollback = conn->prepare("ROLLBACK");
  if (!rollback) return rollback.error();
  conn->begin_ = std::move(begin).value();
  conn->commit_ = std::move(commit).value();
  conn->rollback_ = std::move(rollback).value();
  return conn;
}

Result<std::unique_ptr<Connection>> Connection::openReadOnly(const std::filesystem::path& path) {
  const std::string name = path.string();
  if (::access(name.c_str(), R_OK) != 0) {
    return Error{name + ": cannot open state database: " + errnoText(errno)};
  }
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = name + ": cannot open state database: ";
    message += raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return Error{std::move(message), kindOf(rc, 0)};
  }
  std::unique_ptr<Connection> conn(new Connection(path, raw));
  sqlite3_extended_result_codes(raw, 1);
  conn->setCheckpointOnClose(false);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  return conn;
}

Connection::Connection(std::filesystem::path path, sqlite3* db) : path_(std::move(path)), db_(db) {}

Connection::~Connection() {
  begin_ = Statement();
  commit_ = Statement();
  rollback_ = Statement();
  // close_v2: statements still owned elsewhere are finalised later, then
  // the connection really closes.
  sqlite3_close_v2(db_);
}

Error Connection::error(int rc, std::string_view what) const {
  std::string message = path_.string() + ": ";
  // The connection's message is more precise ("no such column: x") when it
  // belongs to this failure.
  if ((sqlite3_errcode(db_) & 0xff) == (rc & 0xff)) {
    message += sqlite3_errmsg(db_);
  } else {
    message += sqlite3_errstr(rc);
  }
  const int err = carriesErrno(rc) ? sqlite3_system_errno(db_) : 0;
  if (err != 0) message += ": " + errnoText(err);
  message += " (while ";
  message += what;
  message += ')';
  return Error{std::move(message), kindOf(rc, err)};
}

Error Connection::error(std::string_view message) const {
  return Error{path_.string() + ": " + std::string(message)};
}

Result<Statement> Connection::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return error(rc, "preparing statements; the database does not have the expected schema");
  }
  return Statement(stmt);
}

Status Connection::exec(const std::string& sql, std::string_view what) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return error(rc, what);
  return Ok{};
}

Result<std::vector<std::string>> Connection::column(const std::string& sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return error(rc, what);
  }
  Statement stmt(raw);
  std::vector<std::string> rows;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(raw, 0);
    const int bytes = sqlite3_column_bytes(raw, 0);
    rows.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "",
                      text != nullptr ? static_cast<size_t>(bytes) : 0);
  }
  if (rc != SQLITE_DONE) return error(rc, what);
  return rows;
}

Result<std::int64_t> Connection::integer(const std::string& sql, std::string_view what) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return error(rc, what);
  }
  Statement stmt(raw);
  rc = sqlite3_step(raw);
  if (rc == SQLITE_ROW) return static_cast<std::int64_t>(sqlite3_column_int64(raw, 0));
  if (rc == SQLITE_DONE) return error(std::string("no result (while ") + std::string(what) + ")");
  return error(rc, what);
}

Status Connection::begin() {
  const int rc = sqlite3_step(begin_.stmt_);
  sqlite3_reset(begin_.stmt_);
  if (rc != SQLITE_DONE) return error(rc, "beginning a transaction");
  return Ok{};
}

Status Connection::commit() {
  const int rc = sqlite3_step(commit_.stmt_);
  if (rc != SQLITE_DONE) {
    Error e = error(rc, "committing");
    sqlite3_reset(commit_.stmt_);
    // SQLite may have rolled back already (I/O error, disk full); if not,
    // the transaction is still open and would block every later write.
    rollback();
    return e;
  }
  sqlite3_reset(commit_.stmt_);
  return Ok{};
}

void Connection::rollback() {
  if (sqlite3_get_autocommit(db_) != 0) return;  // no transaction open
  sqlite3_step(rollback_.stmt_);
  sqlite3_reset(rollback_.stmt_);
}

Connection::Fault Connection::lastFault() const {
  switch (sqlite3_errcode(db_) & 0xff) {
    case SQLITE_NOTADB:
      return Fault::kNotADatabase;
    case SQLITE_CORRUPT:
      return Fault::kCorrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Fault::kBusy;
    default:
      return Fault::kOther;
  }
}

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

std::int64_t Connection::lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

void Connection::setCheckpointOnClose(bool on) {
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, on ? 0 : 1, nullptr);
}

Query::Query(Connection& connection, Statement& statement, std::string_view what)
    : connection_(connection), stmt_(statement.stmt_), what_(what) {}

Query::~Query() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

Query& Query::bind(std::string_view text) {
  // A null data pointer would bind NULL, not "".
  const char* data = text.data() != nullptr ? text.data() : "";
  const int rc =
      sqlite3_bind_text64(stmt_, next_index_++, data, text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Query& Query::bind(std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, next_index_++, value);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Query& Query::bind(std::optional<std::int64_t> value) {
  if (value) return bind(*value);
  const int rc = sqlite3_bind_null(stmt_, next_index_++);
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
  return *this;
}

Result<bool> Query::step() {
  if (bind_rc_ != 0) return connection_.error(bind_rc_, what_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return connection_.error(rc, what_);
}

Status Query::run() {
  for (;;) {
    auto row = step();
    if (!row) return row.error();
    if (!*row) return Ok{};
  }
}

std::string Query::text(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::string_view Query::view(int col) const {
  const auto* text = sqlite3_column_text(stmt_, col);
  if (text == nullptr) return {};
  return std::string_view(reinterpret_cast<const char*>(text),
                          static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::int64_t Query::int64(int col) const { return sqlite3_column_int64(stmt_, col); }

std::optional<std::int64_t> Query::optionalInt64(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt_, col);
}

bool Query::isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

}  // namespace jobwatch::state::sqlite
