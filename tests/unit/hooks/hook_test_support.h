// SPDX-License-Identifier: Apache-2.0
// Helpers for the hooks tests: temp dirs, scripts, bounded waits, a log
// capture that is safe to read while another thread writes, and process
// group checks.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "support/captured_stream.h"
#include "support/temp_dir.h"

namespace jobwatch::hooks::testing {

// A fresh directory under TMPDIR, removed with its contents.
using TempDir = testing_support::TempDir;

inline void writeFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes an executable /bin/sh script.
inline std::string writeScript(const TempDir& dir, const std::string& name,
                               const std::string& body) {
  std::string path = dir / name;
  writeFile(path, "#!/bin/sh\n" + body);
  ::chmod(path.c_str(), 0755);
  return path;
}

inline std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Waits (bounded) for a condition; true if it held in time.
inline bool waitUntil(const std::function<bool()>& condition,
                      std::chrono::milliseconds bound = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// An ostream whose text can be read while a Log on another thread writes.
using CapturedStream = testing_support::CapturedStream;

// Orphaned grandchildren of hooks become children of this process, so that
// the test can reap them (the sandbox's PID 1 may not reap zombies, and a
// zombie still counts as a member of its process group).
inline void becomeSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

// True once no process of group `pgid` exists (bounded wait), reaping any of
// its members that were reparented to us.
inline bool groupGone(pid_t pgid, std::chrono::milliseconds bound = std::chrono::seconds(5)) {
  return waitUntil(
      [pgid] {
        while (true) {
          siginfo_t info{};
          info.si_pid = 0;
          if (::waitid(P_PGID, static_cast<id_t>(pgid), &info, WEXITED | WNOHANG) != 0 ||
              info.si_pid == 0) {
            break;
          }
        }
        return ::kill(-pgid, 0) == -1 && errno == ESRCH;
      },
      bound);
}

// Kills and reaps a group a test left behind on purpose.
inline void killGroup(pid_t pgid) {
  ::kill(-pgid, SIGKILL);
  groupGone(pgid);
}

}  // namespace jobwatch::hooks::testing
