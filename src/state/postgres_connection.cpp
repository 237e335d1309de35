// SPDX-License-Identifier: Apache-2.0
#include "state/postgres_connection.h"

#include <libpq-fe.h>

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

Result<std::unique_ptr<Connection>> Connection::open(const std::string& uri) {
  if (auto valid = checkUri(uri); !valid) return valid.error();
  // dbname first: expand_dbname=1 expands the URI, and the later keywords
  // override what it said.
  const char* keys[] = {"dbname",          "application_name",    "connect_timeout",  "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
  const char* values[] = {uri.c_str(), "jobwatchd", "5", "1", "30", "10", "3", nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return Error{"PostgreSQL: out of memory", ErrorKind::kRuntime};
  std::unique_ptr<Connection> db(new Connection(conn));
  if (PQstatus(conn) != CONNECTION_OK) {
    return db->error("cannot connect");
  }
  // Server messages in a stable form; the lease arithmetic uses timestamptz.
  if (auto set = db->exec("SET client_min_messages = warning", "setting up the session"); !set) {
    return set.error();
  }
  return db;
}

Connection::Connection(pg_conn* conn) : conn_(conn), where_(describe(conn)) {}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Error Connection::error(const std::string& what) const {
  return Error{"PostgreSQL at " + where_ + ": " + what + ": " + oneLine(PQerrorMessage(conn_)),
               ErrorKind::kRuntime};
}

Result<Rows> Connection::exec(const std::string& sql, const Params& params, const char* what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  // Without parameters: PQexec, which also runs scripts (the schema).
  PGresult* result = params.empty()
                         ? PQexec(conn_, sql.c_str())
                         : PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                                        nullptr, values.data(), nullptr, nullptr, 0);
  Rows rows(result);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return rows;
  std::string message = result != nullptr ? oneLine(PQresultErrorMessage(result)) : "";
  if (message.empty()) message = oneLine(PQerrorMessage(conn_));
  return Error{"PostgreSQL at " + where_ + ": " + what + ": " + message, ErrorKind::kRuntime};
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
  if (PQstatus(conn_) != CONNECTION_OK) return;
  // A failed transaction (or none) just ends here; the error is the caller's.
  PGresult* result = PQexec(conn_, "ROLLBACK");
  if (result != nullptr) PQclear(result);
}

Result<bool> Connection::ensureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return false;
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) return error("cannot reconnect");
  auto set = exec("SET client_min_messages = warning", "setting up the session");
  if (!set) return set.error();
  return true;
}

}  // namespace jobwatch::state::pg
