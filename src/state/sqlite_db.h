// SPDX-License-Identifier: Apache-2.0
// A thin RAII layer over the SQLite C API, private to src/state: one
// connection, statements prepared once and reused, scoped uses of them that
// always reset, and every SQLite failure turned into an Error that names the
// database file ("state.db: disk I/O error: No space left on device (while
// committing)"). Nothing here throws; <sqlite3.h> stays in the .cpp.
//
// Thread-safety: none. The owner serialises all use (StateStore holds a
// mutex around every public method); the connection is opened without
// SQLite's own mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace jobwatch::state::sqlite {

class Connection;

// A prepared statement owned for the connection's lifetime.
class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

 private:
  friend class Connection;
  friend class Query;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  sqlite3_stmt* stmt_ = nullptr;
};

class Connection {
 public:
  // Opens (creating an empty file if missing) read-write, without SQLite's
  // internal mutex. Fails, naming the path, when the directory is missing,
  // the file cannot be opened, or it can only be opened read-only.
  static Result<std::unique_ptr<Connection>> open(const std::filesystem::path& path);
  // Opens an existing file read-only (never creating it), for readers
  // beside a running daemon or instead of it. Writes through it fail.
  static Result<std::unique_ptr<Connection>> openReadOnly(const std::filesystem::path& path);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // "<path>: <SQLite's message>[: <errno text>] (while <what>)", of kind
  // kRuntime for conditions that may pass (busy, locked, I/O error, disk
  // full, out of memory or file descriptors) and kBadInput otherwise
  // (not a database, corrupt, no permission, read-only).
  Error error(int rc, std::string_view what) const;
  Error error(std::string_view message) const;

  [[nodiscard]] Result<Statement> prepare(std::string_view sql);
  // Runs SQL that may hold several statements and returns no rows.
  [[nodiscard]] Status exec(const std::string& sql, std::string_view what);
  // First column of every row, as text (NULL as ""), for pragmas and probes.
  [[nodiscard]] Result<std::vector<std::string>> column(const std::string& sql,
                                                        std::string_view what);
  // First column of the first row as an integer.
  [[nodiscard]] Result<std::int64_t> integer(const std::string& sql, std::string_view what);

  // BEGIN IMMEDIATE / COMMIT / ROLLBACK through cached statements. A failed
  // commit leaves no transaction open.
  [[nodiscard]] Status begin();
  [[nodiscard]] Status commit();
  void rollback();

  // What kind of failure the connection last reported, for the cases the
  // caller words differently from a plain SQLite error.
  // kBusy: another connection holds a lock (busy timeout exhausted).
  enum class Fault { kOther, kNotADatabase, kCorrupt, kBusy };
  Fault lastFault() const;

  // Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const;
  // The rowid of the last successful INSERT.
  std::int64_t lastInsertRowid() const;
  // Whether closing the connection checkpoints the WAL into the main file.
  // Off until the file is known to be ours, so a refused file is not touched.
  void setCheckpointOnClose(bool on);

 private:
  Connection(std::filesystem::path path, sqlite3* db);

  std::filesystem::path path_;
  sqlite3* db_;
  Statement begin_;
  Statement commit_;
  Statement rollback_;
};

// One use of a cached Statement: bind in order, step, read columns. The
// destructor resets the statement and clears its bindings, so a statement
// never holds a read snapshot or borrowed buffers after its use. Bound
// strings are not copied: they must outlive the Query's steps.
class Query {
 public:
  Query(Connection& connection, Statement& statement, std::string_view what);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(std::string_view text);
  Query& bind(std::int64_t value);
  Query& bind(std::optional<std::int64_t> value);

  // true: a row is ready; false: done.
  [[nodiscard]] Result<bool> step();
  // Steps to the end, ignoring rows.
  [[nodiscard]] Status run();

  std::string text(int col) const;
  // Valid until the next step() or the Query's end.
  std::string_view view(int col) const;
  std::int64_t int64(int col) const;
  std::optional<std::int64_t> optionalInt64(int col) const;
  bool isNull(int col) const;

 private:
  Connection& connection_;
  sqlite3_stmt* stmt_;
  std::string_view what_;
  int next_index_ = 1;
  int bind_rc_ = 0;  // first failed bind, reported by step()
};

}  // namespace jobwatch::state::sqlite
