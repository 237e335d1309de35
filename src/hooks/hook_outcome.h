// SPDX-License-Identifier: Apache-2.0
// How a finished hook process is reported: its result (the metric label),
// the error kept in the ledger and logged ("exit code 7: <last stderr
// line>", "timed out after 5s (killed by SIGTERM)"), and extra log fields.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <string>

#include "hooks/child_process.h"
#include "hooks/hook_events.h"
#include "util/log.h"

namespace jobwatch::hooks {

struct ExitReport {
  HookResult result = HookResult::kFailure;
  std::string error;  // empty on success
  LogFields details;  // exit_code or signal, output_dropped_bytes
};

// `timeout` is set when the supervisor timed the run out; `last_stderr` is
// the last non-empty line the run wrote to stderr (cut to a few hundred
// bytes, on a UTF-8 boundary).
ExitReport describeExit(const ExitInfo& exit, std::optional<std::chrono::milliseconds> timeout,
                        const std::string& last_stderr, size_t dropped_bytes);

// "SIGTERM", or the number when the signal has no name.
std::string signalName(int sig);

// The last lines a run wrote (both streams), bounded by lines and bytes,
// for the attempt's record in the job's history.
class OutputTail {
 public:
  OutputTail(size_t max_lines, size_t max_bytes) : max_lines_(max_lines), max_bytes_(max_bytes) {}
  void add(std::string line);
  // The lines kept, joined by newlines.
  std::string text() const;

 private:
  size_t max_lines_;
  size_t max_bytes_;
  std::deque<std::string> lines_;
  size_t bytes_ = 0;
};

// At most `max` bytes of `text`, not cutting a UTF-8 sequence in two.
std::string utf8Prefix(const std::string& text, size_t max);

}  // namespace jobwatch::hooks
