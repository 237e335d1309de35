// SPDX-License-Identifier: Apache-2.0
// The journald output of Log. When systemd connects the daemon's stderr to
// the journal (JOURNAL_STREAM names stderr's device and inode), Log sends
// each line as a structured journal entry instead of text on stderr, so
// `journalctl -u jobwatchd JOBWATCH_JOB_ID=<id>` shows one job's history.
//
// An entry carries PRIORITY (from the level), SYSLOG_IDENTIFIER=jobwatchd,
// MESSAGE (the text form of the line, without timestamp and level), and
// from the Log fields: JOBWATCH_JOB_ID (job_id), JOBWATCH_STATUS (to, else
// status), JOBWATCH_PREVIOUS_STATUS (from), JOBWATCH_HOOK (hook).
//
// journalEntryFor() is pure; JournalOutput is the seam tests replace to
// capture entries. The systemd implementation is the only code that
// includes <systemd/sd-journal.h>.
//
// Thread-safety: journalEntryFor is pure; the systemd JournalOutput may be
// called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/log.h"

namespace jobwatch {

struct JournalField {
  std::string name;   // upper case, as journald wants
  std::string value;  // any bytes
};
using JournalEntry = std::vector<JournalField>;

// `message` is the text rendering of the line ("msg key=value ...").
JournalEntry journalEntryFor(LogLevel level, std::string_view message, const LogFields& fields);

// syslog(3) priority of a level: error 3, warn 4, info 6, debug and trace 7.
int journalPriority(LogLevel level);

class JournalOutput {
 public:
  virtual ~JournalOutput() = default;
  // False when the entry could not be sent (journald gone): Log then falls
  // back to stderr for that line.
  virtual bool send(const JournalEntry& entry) = 0;
};

// Sends entries to journald with sd_journal_sendv.
std::unique_ptr<JournalOutput> makeSystemdJournal();

// True when stderr is the journal stream systemd set up for us: the
// environment variable JOURNAL_STREAM is "<device>:<inode>" of fd 2.
bool stderrIsJournal();

}  // namespace jobwatch
