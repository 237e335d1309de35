// SPDX-License-Identifier: Apache-2.0
// How values are written to the state database: explicit stored codes
// (never enum casts: the file outlives the code), times as milliseconds
// since the epoch, and the API's facts in column order. Shared by the tables of src/state; private
// to it.
//
// Thread-safety: constants and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "state/sqlite_db.h"
#include "status/job_facts.h"
#include "util/clock.h"
#include "util/result.h"

namespace jobwatch::state::stored {

constexpr std::int64_t kSourceWatchFile = 0;
constexpr std::int64_t kSourceDropDir = 1;

constexpr std::int64_t kStatePending = 0;
constexpr std::int64_t kStateRunning = 1;
constexpr std::int64_t kStateSucceeded = 2;
constexpr std::int64_t kStateFailed = 3;

inline std::int64_t floorMs(WallTime t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
// A run's not_before is rounded up: a run is never claimable before its time.
inline std::int64_t ceilMs(WallTime t) {
  return std::chrono::ceil<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline WallTime fromMs(std::int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

// The API's facts, in the column order both tables use (status_raw, type,
// pdf_name, pdf_hash, error, created_at, updated_at).
inline status::JobFacts readFacts(const sqlite::Query& q, int first) {
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

inline sqlite::Query& bindFacts(sqlite::Query& q, const status::JobFacts& f) {
  return q.bind(f.status_raw)
      .bind(f.type)
      .bind(f.pdf_name)
      .bind(f.pdf_hash)
      .bind(f.error)
      .bind(f.created_at)
      .bind(f.updated_at);
}

// An operator's event ID, "<job_id>:<status>" (retryFailedRuns), split
// at its first colon; anything else is bad input naming it.
struct EventRef {
  std::string job_id;
  std::string status;
};
inline Result<EventRef> parseEventId(const std::string& event) {
  const size_t colon = event.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == event.size()) {
    return Error{"invalid event ID \"" + event + "\" (expected <job_id>:<status>)",
                 ErrorKind::kBadInput};
  }
  return EventRef{event.substr(0, colon), event.substr(colon + 1)};
}

}  // namespace jobwatch::state::stored
