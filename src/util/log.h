// SPDX-License-Identifier: Apache-2.0
// Log: the daemon's one logging facade. A message plus key=value fields,
// rendered as text ("msg key=value ...") or as one JSON object per line.
// Components receive a Log& (no global logger), so tests can capture lines.
//
// Under systemd, when stderr is the journal stream, lines go to journald
// as structured entries instead (util/journal.h): the text form as MESSAGE,
// PRIORITY from the level, JOBWATCH_* fields for job, status and hook.
//
// Never pass secrets (the API key, request headers) as a message or field.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace jobwatch {

class JournalOutput;

enum class LogFormat { kText, kJson };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// Parses "trace|debug|info|warn|error"; false if unknown.
bool parseLogLevel(std::string_view text, LogLevel& out);
bool parseLogFormat(std::string_view text, LogFormat& out);

struct LogField {
  std::string key;
  std::string value;
};
using LogFields = std::vector<LogField>;

class Log {
 public:
  // Logs to stderr - or to journald when stderr is connected to the
  // journal (JOURNAL_STREAM matches stderr; see util/journal.h).
  Log(LogFormat format, LogLevel level);
  // Logs to `out` (tests). The stream must outlive the Log.
  Log(LogFormat format, LogLevel level, std::ostream& out);
  // Logs every line to `journal` (tests capture entries), falling back to
  // stderr for a line the journal refuses.
  Log(LogFormat format, LogLevel level, std::unique_ptr<JournalOutput> journal);
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  void setLevel(LogLevel level);
  void setFormat(LogFormat format);
  bool enabled(LogLevel level) const;

  void write(LogLevel level, std::string_view msg, const LogFields& fields = {});
  void trace(std::string_view msg, const LogFields& fields = {}) {
    write(LogLevel::kTrace, msg, fields);
  }
  void debug(std::string_view msg, const LogFields& fields = {}) {
    write(LogLevel::kDebug, msg, fields);
  }
  void info(std::string_view msg, const LogFields& fields = {}) {
    write(LogLevel::kInfo, msg, fields);
  }
  void warn(std::string_view msg, const LogFields& fields = {}) {
    write(LogLevel::kWarn, msg, fields);
  }
  void error(std::string_view msg, const LogFields& fields = {}) {
    write(LogLevel::kError, msg, fields);
  }

  void flush();

 private:
  void applyPattern();

  std::shared_ptr<spdlog::logger> logger_;
  std::atomic<LogFormat> format_;
  std::unique_ptr<JournalOutput> journal_;  // null: spdlog sink only
};

// Appends `text` to `out` escaped as the inside of a JSON string.
void appendJsonEscaped(std::string& out, std::string_view text);

// The text form of a line, without timestamp and level: "msg key=value
// key2=\"quoted value\"", always one line.
std::string renderLogText(std::string_view msg, const LogFields& fields);

}  // namespace jobwatch
