// SPDX-License-Identifier: Apache-2.0
// A small RAII wrapper of one libpq connection (PGconn) for the PostgreSQL
// store: parameterised statements with text parameters (PQexecParams),
// result rows, transactions, and reconnecting when the connection broke.
//
// Connections carry application_name=jobwatchd, a 5 s connect timeout, TCP
// keepalives and a TCP user timeout; the server is asked to drop the
// session soon after the client went (keepalives and
// client_connection_check_interval), so an abandoned session's locks go.
// Every statement has a deadline (`answer_within`): a server that stops
// answering (hung, or its network cut while the kernel still acknowledges)
// makes the statement a runtime error and the connection broken, and the
// next ensureConnected() connects again.
//
// Errors are ErrorKind::kRuntime (the server or the network is in trouble)
// except a malformed URI (kBadInput); their messages name the server as
// host:port/database, never the URI or its password.
//
// Thread-safety: none; its owner serialises all use.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

struct pg_conn;
struct pg_result;

namespace jobwatch::state::pg {

// A statement's text parameters; nullopt is SQL NULL.
using Params = std::vector<std::optional<std::string>>;

inline std::optional<std::string> param(std::int64_t value) { return std::to_string(value); }
inline std::optional<std::string> param(const std::string& value) { return value; }
inline std::optional<std::string> param(std::optional<std::int64_t> value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

// A statement's result (owns the PGresult).
class Rows {
 public:
  explicit Rows(pg_result* result);
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const;
  bool isNull(int row, int col) const;
  std::string text(int row, int col) const;    // NULL: empty
  std::int64_t int64(int row, int col) const;  // NULL or not a number: 0
  std::optional<std::int64_t> optionalInt64(int row, int col) const;
  // Rows changed by an INSERT/UPDATE/DELETE.
  std::int64_t affected() const;
  // The server's message for a failed statement, on one line ("" if none).
  std::string errorMessage() const;

 private:
  pg_result* result_ = nullptr;
};

class Connection {
 public:
  // Connects once. A malformed URI is kBadInput; anything else kRuntime.
  static Result<std::unique_ptr<Connection>> open(const std::string& uri,
                                                  std::chrono::milliseconds answer_within);
  // The URI's syntax only (no connection): kBadInput if malformed.
  static Status checkUri(const std::string& uri);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement; `what` says what for the error message.
  [[nodiscard]] Result<Rows> exec(const std::string& sql, const Params& params, const char* what);
  [[nodiscard]] Result<Rows> exec(const std::string& sql, const char* what) {
    return exec(sql, Params{}, what);
  }
  [[nodiscard]] Status begin();
  [[nodiscard]] Status commit();
  void rollback();  // best effort (the connection may be gone)

  // Whether the connection is usable; when it is not, reconnects once
  // (true: reconnected now; the session's state, advisory locks included,
  // is new). An error: still not connected.
  [[nodiscard]] Result<bool> ensureConnected();
  // "host:port/database", for messages.
  const std::string& where() const { return where_; }
  Error error(const std::string& what) const;

 private:
  Connection(pg_conn* conn, std::chrono::milliseconds answer_within);
  [[nodiscard]] Status setUpSession();
  // Waits until libpq has the next result or the deadline passed (false).
  bool awaitResult(std::chrono::steady_clock::time_point deadline);
  pg_conn* conn_ = nullptr;
  std::string where_;
  std::chrono::milliseconds answer_within_;
  bool broken_ = false;  // a statement got no answer in time: reconnect
};

// Runs `body` (returning Status) between BEGIN and COMMIT; rolls back if it
// or the commit failed.
template <typename Body>
Status transaction(Connection& db, Body&& body) {
  if (auto began = db.begin(); !began) return began;
  Status done = body();
  if (!done) {
    db.rollback();
    return done;
  }
  return db.commit();
}

}  // namespace jobwatch::state::pg
