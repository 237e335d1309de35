// SPDX-License-Identifier: Apache-2.0
#include "app/state_backend.h"

#include "config/state_url.h"
#include "state/postgres_state_store.h"

namespace jobwatch::app {
namespace {

bool isPostgres(const config::Config& config) {
  return config.state.backend == config::StateBackend::kPostgresql;
}

// The URI; errors already name the key and file or variable, not the URI.
Result<std::string> readUrl(const config::Config& config) {
  return config::readStateUrl(config.state);
}

// A store error, prefixed with where the URI came from (the store names the
// server by host and port, never by the URI).
Error fromKey(const config::Config& config, const Error& error, const std::string& uri) {
  return Error{config::stateUrlKey(config.state) + ": " + redactStateUrl(error.message, uri),
               error.kind};
}

Result<std::unique_ptr<state::StateStore>> openPostgres(const config::Config& config,
                                                        const Clock& clock, Log& log) {
  auto uri = readUrl(config);
  if (!uri.ok()) return uri.error();
  state::PostgresOptions options;
  options.uri = std::move(uri).value();
  options.instance = config.state.instance;
  options.lease = config.state.lease;
  options.on_wait = [&log](const Error& error, std::chrono::milliseconds retry_in) {
    log.warn("waiting for the PostgreSQL state database",
             {{"error", error.message}, {"retry_in_ms", std::to_string(retry_in.count())}});
  };
  auto store = state::openPostgresStore(options, clock);
  if (!store.ok()) return fromKey(config, store.error(), options.uri);
  return std::move(store).value();
}

}  // namespace

Result<std::unique_ptr<state::StateLock>> lockStateStore(const config::Config& config) {
  if (isPostgres(config)) return std::unique_ptr<state::StateLock>();
  return state::StateLock::acquire(config.state.path);
}

Result<std::unique_ptr<state::StateStore>> openStateStore(const config::Config& config,
                                                          const Clock& clock, Log& log) {
  if (isPostgres(config)) return openPostgres(config, clock, log);
  state::OpenOptions options;
  options.on_wait = [&log](const Error& error, std::chrono::milliseconds retry_in) {
    log.warn("state database is locked by another process; waiting",
             {{"error", error.message}, {"retry_in_ms", std::to_string(retry_in.count())}});
  };
  return state::StateStore::open(config.state.path, clock, options);
}

Result<std::unique_ptr<state::StateReader>> openStateReader(const config::Config& config) {
  if (!isPostgres(config)) return state::StateReader::open(config.state.path);
  auto uri = readUrl(config);
  if (!uri.ok()) return uri.error();
  auto reader = state::openPostgresReader(uri.value());
  if (!reader.ok()) return fromKey(config, reader.error(), uri.value());
  return std::move(reader).value();
}

std::string redactStateUrl(std::string message, const std::string& uri) {
  if (uri.empty()) return message;
  const std::string blank = "<state URI>";
  for (size_t at = message.find(uri); at != std::string::npos; at = message.find(uri, at)) {
    message.replace(at, uri.size(), blank);
    at += blank.size();
  }
  return message;
}

std::string describeStateStore(const config::Config& config) {
  if (!isPostgres(config)) return "the state database " + config.state.path.string();
  auto uri = readUrl(config);
  if (!uri.ok()) return "the PostgreSQL database (" + config::stateUrlKey(config.state) + ")";
  return "the PostgreSQL database " + config::describeStateUrl(uri.value());
}

}  // namespace jobwatch::app
