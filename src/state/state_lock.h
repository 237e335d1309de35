// SPDX-License-Identifier: Apache-2.0
// StateLock: one jobwatchd process per state database. Two daemons on one
// ledger would both recover "running" hook runs and run them twice, so the
// service and --once hold an exclusive flock(2) on "<state.path>.lock" for
// their whole life. The lock dies with the process (also on SIGKILL).
//
// Thread-safety: acquire on one thread; the lock is released on destruction.
#pragma once

#include <filesystem>
#include <memory>

#include "util/result.h"

namespace jobwatch::state {

class StateLock {
 public:
  // Fails, naming the lock file, when another process holds it or the file
  // cannot be created.
  [[nodiscard]] static Result<std::unique_ptr<StateLock>> acquire(
      const std::filesystem::path& state_path);
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace jobwatch::state
