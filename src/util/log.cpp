// SPDX-License-Identifier: Apache-2.0
#include "util/log.h"

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cstdio>

#include "util/journal.h"

namespace jobwatch {
namespace {

spdlog::level::level_enum toSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

void appendTextValue(std::string& out, std::string_view v) {
  if (!needsQuotes(v)) {
    out += v;
    return;
  }
  out += '"';
  appendJsonEscaped(out, v);
  out += '"';
}

}  // namespace

void appendJsonEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

bool parseLogLevel(std::string_view text, LogLevel& out) {
  if (text == "trace")
    out = LogLevel::kTrace;
  else if (text == "debug")
    out = LogLevel::kDebug;
  else if (text == "info")
    out = LogLevel::kInfo;
  else if (text == "warn")
    out = LogLevel::kWarn;
  else if (text == "error")
    out = LogLevel::kError;
  else
    return false;
  return true;
}

bool parseLogFormat(std::string_view text, LogFormat& out) {
  if (text == "text")
    out = LogFormat::kText;
  else if (text == "json")
    out = LogFormat::kJson;
  else
    return false;
  return true;
}

std::string renderLogText(std::string_view msg, const LogFields& fields) {
  std::string line;
  line.reserve(64 + msg.size() + fields.size() * 24);
  // The message itself is ours, but may embed untrusted text: keep it on one line.
  for (char c : msg) line += (c == '\n' || c == '\r') ? ' ' : c;
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    appendTextValue(line, f.value);
  }
  return line;
}

Log::Log(LogFormat format, LogLevel level)
    : Log(format, level, stderrIsJournal() ? makeSystemdJournal() : nullptr) {}

Log::Log(LogFormat format, LogLevel level, std::unique_ptr<JournalOutput> journal)
    : logger_(std::make_shared<spdlog::logger>("jobwatchd",
                                               std::make_shared<spdlog::sinks::stderr_sink_mt>())),
      format_(format),
      journal_(std::move(journal)) {
  logger_->set_level(toSpd(level));
  logger_->flush_on(spdlog::level::trace);
  applyPattern();
}

Log::Log(LogFormat format, LogLevel level, std::ostream& out)
    : logger_(std::make_shared<spdlog::logger>(
          "jobwatchd", std::make_shared<spdlog::sinks::ostream_sink_mt>(out, true))),
      format_(format) {
  logger_->set_level(toSpd(level));
  applyPattern();
}

Log::~Log() = default;

void Log::setLevel(LogLevel level) { logger_->set_level(toSpd(level)); }

void Log::setFormat(LogFormat format) {
  format_ = format;
  applyPattern();
}

bool Log::enabled(LogLevel level) const { return logger_->should_log(toSpd(level)); }

void Log::applyPattern() {
  // Timestamps in UTC, ISO 8601, so lines from several machines sort together.
  if (format_ == LogFormat::kJson) {
    logger_->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})",
                         spdlog::pattern_time_type::utc);
  } else {
    logger_->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l %v", spdlog::pattern_time_type::utc);
  }
}

void Log::write(LogLevel level, std::string_view msg, const LogFields& fields) {
  auto spd = toSpd(level);
  if (!logger_->should_log(spd)) return;
  // When journald refuses the entry (gone?), stderr below still reaches someone.
  if (journal_ && journal_->send(journalEntryFor(level, renderLogText(msg, fields), fields))) {
    return;
  }
  std::string line;
  if (format_ == LogFormat::kJson) {
    line.reserve(64 + msg.size() + fields.size() * 24);
    line += "\"msg\":\"";
    appendJsonEscaped(line, msg);
    line += '"';
    for (const auto& f : fields) {
      line += ",\"";
      appendJsonEscaped(line, f.key);
      line += "\":\"";
      appendJsonEscaped(line, f.value);
      line += '"';
    }
  } else {
    line = renderLogText(msg, fields);
  }
  logger_->log(spd, "{}", line);
}

void Log::flush() { logger_->flush(); }

}  // namespace jobwatch
