// SPDX-License-Identifier: Apache-2.0
// ChildProcess: one hook process, started with posix_spawn in its own
// process group, with pipes for stdin/stdout/stderr. The owner drives it
// from a poll() loop: fds() to wait on, pump() to move bytes and collect
// complete output lines, reap() once the pidfd is readable.
//
// Every descriptor of the daemon other than the three pipes is closed in
// the child (close-on-exec plus closefrom). Output is bounded per run:
// lines longer than kMaxLine are cut, and past kMaxOutput bytes the rest is
// read and discarded (so the child never blocks on a full pipe).
//
// The destructor of a still-running child kills its whole group (SIGKILL)
// and reaps it: no process or zombie outlives its ChildProcess.
//
// Thread-safety: a ChildProcess is used by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace jobwatch::hooks {

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0]: absolute path, or a name looked up in PATH of env
  std::vector<std::string> env;   // "NAME=value", the child's whole environment
  std::string stdin_data;         // written to the child's stdin, then closed
};

struct OutputLine {
  bool is_stderr = false;
  std::string text;  // without the newline; printable (control bytes escaped)
};

struct ExitInfo {
  bool exited = false;  // normal exit (code valid) vs killed by a signal
  int code = 0;
  int signal = 0;
};

class ChildProcess {
 public:
  static constexpr size_t kMaxLine = 4096;
  static constexpr size_t kMaxOutput = size_t{64} * 1024;

  // Fails (spawn error: not found, not executable, ...) with a message.
  [[nodiscard]] static Result<std::unique_ptr<ChildProcess>> spawn(const SpawnSpec& spec);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Descriptors to poll: the pidfd (readable at exit) and open pipes
  // (stdin for POLLOUT while data is left, stdout/stderr for POLLIN).
  struct PollFd {
    int fd;
    short events;
  };
  std::vector<PollFd> fds() const;

  // Moves whatever bytes can move without blocking; appends complete lines.
  // At EOF a final partial line is flushed too. Reads a bounded amount per
  // call, so one chatty child cannot starve the caller's loop.
  void pump(std::vector<OutputLine>& lines);

  // Non-blocking: the exit status once the child has ended (and its pipes
  // are drained), else nullopt.
  //
  // Once the child has exited, what is left in its pipes is read and the
  // pipes are closed, even when a grandchild (`sleep 300 &`) still holds
  // them open: the exit is never held back waiting for an EOF that may not
  // come. Lines read that way are handed out by the next pump(): call pump()
  // once more after reap() returned the exit. The child is reaped (no
  // zombie) when its exit is first returned; later calls return it again.
  //
  // After signalGroup(SIGTERM/SIGINT/SIGKILL), whatever is left of the
  // process group when the child exits is SIGKILLed before the child is
  // reaped (the unreaped child pins the group ID, so no unrelated group can
  // be hit): a timed-out hook leaves no stragglers.
  std::optional<ExitInfo> reap();

  // Sends `sig` to the whole process group (no-op once reaped).
  void signalGroup(int sig);

  // Bytes of output not logged: past kMaxOutput, or cut from lines longer
  // than kMaxLine.
  size_t droppedBytes() const { return dropped_; }

  // False only where pidfd_open is unavailable (kernel < 5.3, or refused by
  // a seccomp filter): then the exit is not pollable and the owner must call
  // reap() periodically (its poll timeout must be short).
  bool hasPidfd() const { return pidfd_ >= 0; }

 private:
  ChildProcess() = default;

  void writeStdin();
  void readStreams(std::vector<OutputLine>& lines, size_t max_bytes);
  void consume(const char* data, size_t size, std::string& buf, bool& skipping, bool is_stderr,
               std::vector<OutputLine>& lines);
  void flushPartial(std::string& buf, bool& skipping, bool is_stderr,
                    std::vector<OutputLine>& lines);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string stdin_data_;
  size_t stdin_written_ = 0;
  std::string out_buf_, err_buf_;
  size_t logged_ = 0;
  size_t dropped_ = 0;
  std::optional<ExitInfo> exit_;
  bool reaped_ = false;       // waited for: pid_ may be reused, never signal it again
  bool terminating_ = false;  // signalGroup() asked the group to end
  bool out_skip_ = false, err_skip_ = false;  // discarding the rest of an over-long line
  std::vector<OutputLine> pending_lines_;     // drained by reap(), handed out by pump()
};

}  // namespace jobwatch::hooks
