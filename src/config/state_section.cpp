// SPDX-License-Identifier: Apache-2.0
// The `state` section: where the state lives - a SQLite file (state.path)
// or a PostgreSQL database shared by a fleet (SPEC "High availability
// (PostgreSQL)": backend, url_file / url_env, instance, lease) - and how
// long finished jobs are remembered.

#include "config/names.h"
#include "config/sections.h"
#include "config/state_url.h"
#include "status/job_status.h"
#include "util/job_id.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;

// state.lease: renewed several times within one lease, and a dead
// instance's jobs wait at most one lease for another instance.
constexpr Millis kMinLease = 3s;
constexpr Millis kMaxLease = 10min;

constexpr std::string_view kInstanceRule =
    " (letters, digits, '.', '-' and '_', starting with a letter or digit; at most 64)";

void readBackend(SchemaReader& r, const Value& v, StateBackend& out) {
  auto s = r.text(v, "a state backend");
  if (!s) return;
  const std::string word = status::toLower(*s);
  if (word == "sqlite") {
    out = StateBackend::kSqlite;
  } else if (word == "postgresql") {
    out = StateBackend::kPostgresql;
  } else {
    r.error(v, "unknown state backend " + quoteForMessage(*s) + " (expected sqlite or postgresql)");
  }
}

void readUrlEnv(SchemaReader& r, const Value& v, std::optional<std::string>& out) {
  if (v.node.IsNull()) {
    out.reset();
    return;
  }
  auto s = r.text(v, "an environment variable name");
  if (!s) return;
  if (!isEnvName(*s)) {
    r.error(v, quoteForMessage(*s) +
                   " is not a valid environment variable name (letters, digits and _, not "
                   "starting with a digit)");
    return;
  }
  out = *s;
}

void readInstance(SchemaReader& r, const Value& v, std::string& out) {
  auto s = r.text(v, "an instance name");
  if (!s) return;
  if (!isInstanceName(*s)) {
    r.error(v, quoteForMessage(*s) + " is not a valid instance name" + std::string(kInstanceRule));
    return;
  }
  out = *s;
}

void readLease(SchemaReader& r, const Value& v, Millis& out) {
  auto d = r.duration(v);
  if (!d) return;
  if (*d < kMinLease || *d > kMaxLease) {
    r.error(v, "must be between " + formatDuration(kMinLease) + " and " +
                   formatDuration(kMaxLease) + ", got " + formatDuration(*d));
    return;
  }
  out = *d;
}

// The keys that belong to one backend, set for the other; and the URI's
// source, which postgresql needs exactly once.
void checkBackendKeys(SchemaReader& r, const StateConfig& state) {
  if (r.isBad("state.backend")) return;
  if (state.backend == StateBackend::kSqlite) {
    for (const char* key : {"state.url_file", "state.url_env"}) {
      if (r.lineFor(key) > 0 && !r.isBad(key)) {
        r.error(key, r.lineFor(key),
                "is for state.backend postgresql; the state is in SQLite (state.path) unless "
                "state.backend is postgresql");
      }
    }
    for (const char* key : {"state.instance", "state.lease"}) {
      if (r.lineFor(key) > 0 && !r.isBad(key)) {
        r.warning(key, r.lineFor(key), "has no effect unless state.backend is postgresql");
      }
    }
    return;
  }
  const int backend_line = r.lineFor("state.backend");
  if (r.lineFor("state.path") > 0) {
    r.error("state.path", r.lineFor("state.path"),
            "is the SQLite database, not used with state.backend postgresql (nothing in it is "
            "moved to PostgreSQL); remove it");
  }
  if (state.url_file && state.url_env) {
    r.error("state.url_env", r.lineFor("state.url_env"),
            "set either state.url_file or state.url_env, not both");
  } else if (!state.url_file && !state.url_env && !r.isBad("state.url_file") &&
             !r.isBad("state.url_env")) {
    r.error("state.backend", backend_line,
            "postgresql needs the connection URI: set state.url_file (a file holding it, e.g. "
            "${CREDENTIALS_DIRECTORY}/postgresql-url) or state.url_env (an environment "
            "variable holding it); the URI is never written in this file");
  }
  if (r.lineFor("state.instance") == 0 && !isInstanceName(state.instance)) {
    r.error("state.backend", backend_line,
            "state.instance defaults to the host name, but " + quoteForMessage(state.instance) +
                " is not a valid instance name" + std::string(kInstanceRule) +
                "; set state.instance");
  }
}

}  // namespace

void parseStateSection(SchemaReader& r, const Value& section, StateConfig& state) {
  r.walkMap(
      section,
      {
          {"backend", [&](const Value& v) { readBackend(r, v, state.backend); }},
          {"path",
           [&](const Value& v) {
             if (auto p = r.path(v)) state.path = std::move(*p);
           }},
          {"forget_after", [&](const Value& v) { r.positiveDuration(v, state.forget_after); }},
          {"url_file", [&](const Value& v) { readCredentialFile(r, v, state.url_file); }},
          {"url_env", [&](const Value& v) { readUrlEnv(r, v, state.url_env); }},
          {"instance", [&](const Value& v) { readInstance(r, v, state.instance); }},
          {"lease", [&](const Value& v) { readLease(r, v, state.lease); }},
      },
      "state settings");
  checkBackendKeys(r, state);
}

}  // namespace jobwatch::config
