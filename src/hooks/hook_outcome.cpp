// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_outcome.h"

#include <cstring>

#include "util/duration.h"

namespace jobwatch::hooks {

namespace {

constexpr size_t kLastStderrMax = 200;

}  // namespace

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(sig);
}

std::string utf8Prefix(const std::string& text, size_t max) {
  if (text.size() <= max) return text;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) --cut;
  return text.substr(0, cut);
}

ExitReport describeExit(const ExitInfo& exit, std::optional<std::chrono::milliseconds> timeout,
                        const std::string& last_stderr, size_t dropped_bytes) {
  ExitReport report;
  if (timeout) {
    report.result = HookResult::kTimeout;
  } else if (exit.exited && exit.code == 0) {
    report.result = HookResult::kSuccess;
  }
  if (report.result != HookResult::kSuccess) {
    std::string what;
    if (exit.exited) {
      report.details.push_back({"exit_code", std::to_string(exit.code)});
      what = "exit code " + std::to_string(exit.code);
    } else if (exit.signal != 0) {
      report.details.push_back({"signal", signalName(exit.signal)});
      what = "killed by " + signalName(exit.signal);
    } else {
      what = "exit status lost (the process was reaped elsewhere)";
    }
    if (timeout) what = "timed out after " + formatDuration(*timeout) + " (" + what + ")";
    // The last stderr line usually says why; the ledger keeps it.
    if (!last_stderr.empty()) what += ": " + utf8Prefix(last_stderr, kLastStderrMax);
    report.error = std::move(what);
  }
  if (dropped_bytes > 0) {
    report.details.push_back({"output_dropped_bytes", std::to_string(dropped_bytes)});
  }
  return report;
}

void OutputTail::add(std::string line) {
  if (max_lines_ == 0 || max_bytes_ == 0) return;
  // One line never takes more than the whole budget (a newline each).
  line = utf8Prefix(line, max_bytes_ - 1);
  bytes_ += line.size() + 1;
  lines_.push_back(std::move(line));
  while (lines_.size() > max_lines_ || bytes_ > max_bytes_) {
    bytes_ -= lines_.front().size() + 1;
    lines_.pop_front();
  }
}

std::string OutputTail::text() const {
  std::string out;
  for (const auto& line : lines_) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace jobwatch::hooks
