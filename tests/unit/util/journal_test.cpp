// SPDX-License-Identifier: Apache-2.0
#include "util/journal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "util/log.h"

namespace jobwatch {
namespace {

using ::testing::HasSubstr;

std::map<std::string, std::string> asMap(const JournalEntry& entry) {
  std::map<std::string, std::string> out;
  for (const auto& field : entry) {
    EXPECT_EQ(out.count(field.name), 0u) << "field twice: " << field.name;
    out[field.name] = field.value;
  }
  return out;
}

// Captures the entries a Log would send to journald.
class CapturingJournal final : public JournalOutput {
 public:
  explicit CapturingJournal(std::vector<JournalEntry>& sink, bool accept = true)
      : sink_(sink), accept_(accept) {}
  bool send(const JournalEntry& entry) override {
    std::lock_guard lock(mu_);
    sink_.push_back(entry);
    return accept_;
  }

 private:
  std::mutex mu_;
  std::vector<JournalEntry>& sink_;
  bool accept_;
};

TEST(JournalEntry, StatusChangeCarriesJobStatusAndPreviousStatus) {
  const LogFields fields = {{"job_id", "b2094b38"},
                            {"type", "extraction"},
                            {"pdf_name", "a b.pdf"},
                            {"from", "queued"},
                            {"to", "processing"}};
  auto entry =
      asMap(journalEntryFor(LogLevel::kInfo, renderLogText("status change", fields), fields));
  EXPECT_EQ(entry["PRIORITY"], "6");
  EXPECT_EQ(entry["SYSLOG_IDENTIFIER"], "jobwatchd");
  EXPECT_EQ(entry["MESSAGE"],
            "status change job_id=b2094b38 type=extraction pdf_name=\"a b.pdf\" from=queued "
            "to=processing");
  EXPECT_EQ(entry["JOBWATCH_JOB_ID"], "b2094b38");
  EXPECT_EQ(entry["JOBWATCH_STATUS"], "processing");
  EXPECT_EQ(entry["JOBWATCH_PREVIOUS_STATUS"], "queued");
  EXPECT_EQ(entry.count("JOBWATCH_HOOK"), 0u);
  EXPECT_EQ(entry.size(), 6u);
}

TEST(JournalEntry, HookLinesCarryHookAndStatusField) {
  const LogFields fields = {{"hook", "notify-done"}, {"job_id", "j1"}, {"status", "completed"}};
  auto entry = asMap(journalEntryFor(LogLevel::kError, "hook failed permanently", fields));
  EXPECT_EQ(entry["PRIORITY"], "3");
  EXPECT_EQ(entry["MESSAGE"], "hook failed permanently");
  EXPECT_EQ(entry["JOBWATCH_HOOK"], "notify-done");
  EXPECT_EQ(entry["JOBWATCH_JOB_ID"], "j1");
  EXPECT_EQ(entry["JOBWATCH_STATUS"], "completed");
}

TEST(JournalEntry, LinesWithoutJobFieldsHaveOnlyTheBasics) {
  auto entry =
      asMap(journalEntryFor(LogLevel::kWarn, "api unreachable", {{"error", "x"}, {"job_id", ""}}));
  EXPECT_EQ(entry.size(), 3u);
  EXPECT_EQ(entry["PRIORITY"], "4");
}

TEST(JournalEntry, PrioritiesFollowSyslog) {
  EXPECT_EQ(journalPriority(LogLevel::kTrace), 7);
  EXPECT_EQ(journalPriority(LogLevel::kDebug), 7);
  EXPECT_EQ(journalPriority(LogLevel::kInfo), 6);
  EXPECT_EQ(journalPriority(LogLevel::kWarn), 4);
  EXPECT_EQ(journalPriority(LogLevel::kError), 3);
}

TEST(JournalLog, SendsEntriesInsteadOfTextAndKeepsTheLevelFilter) {
  std::vector<JournalEntry> sent;
  // The format does not matter to the journal: MESSAGE is the text form.
  Log log(LogFormat::kJson, LogLevel::kInfo, std::make_unique<CapturingJournal>(sent));
  ::testing::internal::CaptureStderr();
  log.debug("hidden", {{"job_id", "j0"}});
  log.info("status change", {{"job_id", "j1"}, {"from", "unknown"}, {"to", "queued"}});
  log.warn("multi\nline", {{"error", "a\nb"}});
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(stderr_text, "");
  ASSERT_EQ(sent.size(), 2u);
  auto first = asMap(sent[0]);
  EXPECT_EQ(first["MESSAGE"], "status change job_id=j1 from=unknown to=queued");
  EXPECT_EQ(first["JOBWATCH_JOB_ID"], "j1");
  EXPECT_EQ(first["JOBWATCH_STATUS"], "queued");
  // MESSAGE stays one line; the value is quoted and escaped as on stderr.
  EXPECT_EQ(asMap(sent[1])["MESSAGE"], "multi line error=\"a\\nb\"");
}

TEST(JournalLog, FallsBackToStderrWhenTheJournalRefuses) {
  std::vector<JournalEntry> sent;
  Log log(LogFormat::kText, LogLevel::kInfo, std::make_unique<CapturingJournal>(sent, false));
  ::testing::internal::CaptureStderr();
  log.error("state write failed", {{"job_id", "j2"}});
  const std::string stderr_text = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(sent.size(), 1u);
  EXPECT_THAT(stderr_text, HasSubstr("state write failed job_id=j2"));
}

// Sets or unsets JOURNAL_STREAM for one test.
class ScopedJournalStream {
 public:
  explicit ScopedJournalStream(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("JOURNAL_STREAM")) old_ = old;
    if (value) {
      ::setenv("JOURNAL_STREAM", value->c_str(), 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
  }
  ~ScopedJournalStream() {
    if (old_) {
      ::setenv("JOURNAL_STREAM", old_->c_str(), 1);
    } else {
      ::unsetenv("JOURNAL_STREAM");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(StderrIsJournal, OnlyWhenJournalStreamNamesStderr) {
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const std::string dev = std::to_string(static_cast<unsigned long long>(st.st_dev));
  const std::string ino = std::to_string(static_cast<unsigned long long>(st.st_ino));
  {
    ScopedJournalStream env(dev + ":" + ino);
    EXPECT_TRUE(stderrIsJournal());
  }
  {
    // systemd started us, but stderr was redirected elsewhere since.
    ScopedJournalStream env(dev + ":" + std::to_string(st.st_ino + 1));
    EXPECT_FALSE(stderrIsJournal());
  }
  for (const char* bad : {"", ":", "12", "a:b", "1:2:3", "-1:5"}) {
    ScopedJournalStream env{std::string(bad)};
    EXPECT_FALSE(stderrIsJournal()) << bad;
  }
  ScopedJournalStream unset(std::nullopt);
  EXPECT_FALSE(stderrIsJournal());
}

}  // namespace
}  // namespace jobwatch
