// SPDX-License-Identifier: Apache-2.0
// The only file that includes <systemd/sd-journal.h>.
#include "util/journal.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <optional>

namespace jobwatch {
namespace {

const std::string* fieldValue(const LogFields& fields, std::string_view key) {
  for (const auto& f : fields) {
    if (f.key == key) return &f.value;
  }
  return nullptr;
}

class SystemdJournal final : public JournalOutput {
 public:
  bool send(const JournalEntry& entry) override {
    std::vector<std::string> items;
    items.reserve(entry.size());
    for (const auto& field : entry) items.push_back(field.name + "=" + field.value);
    std::vector<iovec> iov(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      iov[i].iov_base = items[i].data();
      iov[i].iov_len = items[i].size();
    }
    return ::sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
  }
};

template <typename T>
std::optional<T> parseNumber(std::string_view text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

int journalPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return 3;  // LOG_ERR
    case LogLevel::kWarn:
      return 4;  // LOG_WARNING
    case LogLevel::kInfo:
      return 6;  // LOG_INFO
    case LogLevel::kDebug:
    case LogLevel::kTrace:
      return 7;  // LOG_DEBUG
  }
  return 6;
}

JournalEntry journalEntryFor(LogLevel level, std::string_view message, const LogFields& fields) {
  JournalEntry entry;
  entry.push_back({"PRIORITY", std::to_string(journalPriority(level))});
  entry.push_back({"SYSLOG_IDENTIFIER", "jobwatchd"});
  entry.push_back({"MESSAGE", std::string(message)});
  auto add = [&](const char* name, const std::string* value) {
    if (value != nullptr && !value->empty()) entry.push_back({name, *value});
  };
  add("JOBWATCH_JOB_ID", fieldValue(fields, "job_id"));
  const std::string* status = fieldValue(fields, "to");
  add("JOBWATCH_STATUS", status != nullptr ? status : fieldValue(fields, "status"));
  add("JOBWATCH_PREVIOUS_STATUS", fieldValue(fields, "from"));
  add("JOBWATCH_HOOK", fieldValue(fields, "hook"));
  return entry;
}

std::unique_ptr<JournalOutput> makeSystemdJournal() { return std::make_unique<SystemdJournal>(); }

bool stderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  const std::string_view text(stream);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const auto device = parseNumber<unsigned long long>(text.substr(0, colon));
  const auto inode = parseNumber<unsigned long long>(text.substr(colon + 1));
  if (!device || !inode) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == *device &&
         static_cast<unsigned long long>(st.st_ino) == *inode;
}

}  // namespace jobwatch
