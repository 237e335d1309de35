// SPDX-License-Identifier: Apache-2.0
#include "state/postgres_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

namespace jobwatch::state::pg {
namespace {

// libpq's message, on one line and without its trailing newline.
std::string oneLine(const char* message) {
  std::string out = message != nullptr ? message : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

std::string describe(PGconn* conn) {
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  std::string where = host != nullptr && *host != '\0' ? host : "localhost";
  if (port != nullptr && *port != '\0') where += std::string(":") + port;
  if (db != nullptr && *db != '\0') where += std::string("/") + db;
  return where;
}

}  // namespace

Rows::Rows(pg_result* result) : result_(result) {}
Rows::~Rows() {
  if (result_ != nullptr) PQclear(result_);
}
Rows::Rows(Rows&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}

int Rows::size() const { return result_ != nullptr ? PQntuples(result_) : 0; }

bool Rows::isNull(int row, int col) const { return PQgetisnull(result_, row, col) != 0; }

std::string Rows::text(int row, int col) const {
  if (isNull(row, col)) return {};
  return std::string(PQgetvalue(result_, row, col),
                     static_cast<size_t>(PQgetlength(result_, row, col)));
}

std::int64_t Rows::int64(int row, int col) const { return optionalInt64(row, col).value_or(0); }

std::optional<std::int64_t> Rows::optionalInt64(int row, int col) const {
  if (isNull(row, col)) return std::nullopt;
  return std::strtoll(PQgetvalue(result_, row, col), nullptr, 10);
}

std::int64_t Rows::affected() const {
  const char* n = result_ != nullptr ? PQcmdTuples(result_) : nullptr;
  return n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0;
}

std::string Rows::errorMessage() const {
  return result_ != nullptr ? oneLine(PQresultErrorMessage(result_)) : "";
}

Status Connection::checkUri(const std::string& uri) {
  char* message = nullptr;
  PQconninfoOption* options = PQconninfoParse(uri.c_str(), &message);
  if (options == nullptr) {
    // The parser's message quotes no secrets, but it may quote the URI: do
    // not repeat it.
    if (message != nullptr) PQfreemem(message);
    return Error{"state.uri is not a valid PostgreSQL connection URI", ErrorKind::kBadInput};
  }
  PQconninfoFree(options);
  return Ok{};
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& uri,
                                                     std::chrono::milliseconds answer_within) {
  if (auto valid = checkUri(uri); !valid) return valid.error();
  // dbname first: expand_dbname=1 expands the URI, and the later keywords
  // override what it said.
  const std::string user_timeout = std::to_string(answer_within.count());
  const char* keys[] = {"dbname",           "application_name", "connect_timeout",
                        "keepalives",       "keepalives_idle",  "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", nullptr};
  const char* values[] = {uri.c_str(), "jobwatchd",          "5",    "1", "30", "10",
                          "3",         user_timeout.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return Error{"PostgreSQL: out of memory", ErrorKind::kRuntime};
  std::unique_ptr<Connection> db(new Connection(conn, answer_within));
  if (PQstatus(conn) != CONNECTION_OK) {
    return db->error("cannot connect");
  }
  if (auto set = db->setUpSession(); !set) return set.error();
  return db;
}

// Server messages in a stable form (the lease arithmetic uses timestamptz);
// the server drops the session within about a minute of losing us
// (keepalives) and a running statement within 5 s of our closing it.
Status Connection::setUpSession() {
  auto set = exec(
      "SET client_min_messages = warning; SET tcp_keepalives_idle = 30; "
      "SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3; "
      "SET client_connection_check_interval = 5000",
      "setting up the session");
  if (!set) return set.error();
  return Ok{};
}

Connection::Connection(pg_conn* conn, std::chrono::milliseconds answer_within)
    : conn_(conn), where_(describe(conn)), answer_within_(answer_within) {}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Error Connection::error(const std::string& what) const {
  return Error{"PostgreSQL at " + where_ + ": " + what + ": " + oneLine(PQerrorMessage(conn_)),
               ErrorKind::kRuntime};
}

bool Connection::awaitResult(std::chrono::steady_clock::time_point deadline) {
  while (PQisBusy(conn_) != 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd pfd{PQsocket(conn_), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return true;  // PQgetResult reports the broken connection
    if (ready > 0 && PQconsumeInput(conn_) == 0) return true;  // likewise
  }
  return true;
}

Result<Rows> Connection::exec(const std::string& sql, const Params& params, const char* what) {
  const std::string prefix = "PostgreSQL at " + where_ + ": " + what + ": ";
  if (broken_) {
    return Error{prefix + "no connection (an earlier statement got no answer)",
                 ErrorKind::kRuntime};
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  // Without parameters: a simple query, which also runs scripts (the schema).
  const int sent = params.empty()
                       ? PQsendQuery(conn_, sql.c_str())
                       : PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                                           nullptr, values.data(), nullptr, nullptr, 0);
  if (sent == 0) return Error{prefix + oneLine(PQerrorMessage(conn_)), ErrorKind::kRuntime};
  // As PQexec: the last result, or the first that failed.
  const auto deadline = std::chrono::steady_clock::now() + answer_within_;
  std::optional<Rows> kept;
  bool failed = false;
  for (;;) {
    if (!awaitResult(deadline)) {
      broken_ = true;
      return Error{prefix + "no answer within " + std::to_string(answer_within_.count()) + " ms",
                   ErrorKind::kRuntime};
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    const ExecStatusType status = PQresultStatus(result);
    Rows rows(result);
    if (failed) continue;
    failed = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
    kept = std::move(rows);
  }
  if (kept && !failed) return std::move(*kept);
  std::string message = kept ? kept->errorMessage() : "";
  if (message.empty()) message = oneLine(PQerrorMessage(conn_));
  return Error{prefix + message, ErrorKind::kRuntime};
}

Status Connection::begin() {
  auto done = exec("BEGIN", "starting a transaction");
  if (!done) return done.error();
  return Ok{};
}

Status Connection::commit() {
  auto done = exec("COMMIT", "committing a transaction");
  if (!done) {
    rollback();
    return done.error();
  }
  return Ok{};
}

void Connection::rollback() {
  if (broken_ || PQstatus(conn_) != CONNECTION_OK) return;
  // A failed transaction (or none) just ends here; the error is the caller's.
  (void)exec("ROLLBACK", "rolling back");
}

Result<bool> Connection::ensureConnected() {
  if (!broken_ && PQstatus(conn_) == CONNECTION_OK) return false;
  broken_ = false;
  PQreset(conn_);  // closes the old socket: the server ends that session
  if (PQstatus(conn_) != CONNECTION_OK) return error("cannot reconnect");
  if (auto set = setUpSession(); !set) return set.error();
  return true;
}

}  // namespace jobwatch::state::pg
