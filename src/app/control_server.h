// SPDX-License-Identifier: Apache-2.0
// ControlServer: the daemon's control socket (SPEC "Operator interface"): a
// Unix stream socket, mode 0660, group `control.group`, serving one
// request line and one answer line per connection on a thread of its own.
//
// A slow or hostile client cannot stall the daemon, the scheduler or other
// clients: every socket is non-blocking and served from one poll() loop; a
// connection has kRequestDeadline to send its request (at most
// kMaxRequestBytes and a newline) and kAnswerDeadline for its answer to be
// read, and is closed when either passes or it sends too much; at most
// kMaxConnections are open at once (more wait in the listen backlog).
// The handler runs on the server thread and must bound its own waits (the
// daemon's waits for the scheduler are bounded).
//
// Start-up: a stale socket file (left by a daemon that died) is replaced;
// a socket another process still answers on is refused, and so is any
// other kind of file at the path. The socket is made and given its mode
// and group under a temporary name, then renamed into place, so the path
// never exists with other permissions. Stop closes and removes it (only if
// it is still ours).
//
// control.group: the socket is given to it with chown() unless it already
// has that group (the service runs with it: under systemd Group=, since the
// unit's system call filter refuses chown). start() answers kBadInput for a
// configuration the socket cannot be made with (no such group, chown
// refused, another kind of file at the path, a path too long) and
// kRuntime for the rest (no directory, another daemon answering on it).
//
// Failure policy: an unexpected error (an exception) ends the thread,
// logged once, and failed() turns true; the service stops (exit 3).
//
// Thread-safety: start() and stop() from the owning thread; the handler is
// called on the server thread.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "util/log.h"
#include "util/result.h"

namespace jobwatch::app {

class ControlServer {
 public:
  // The answer line (without newline) for one request line.
  using Handler = std::function<std::string(std::string_view request)>;

  static constexpr size_t kMaxConnections = 64;
  static constexpr std::chrono::milliseconds kRequestDeadline{2000};
  static constexpr std::chrono::milliseconds kAnswerDeadline{5000};

  // Binds the socket (see above) and starts serving. `group` empty: the
  // socket keeps the daemon's group.
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& path,
                                                      const std::string& group, Handler handler,
                                                      Log& log);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  void stop();
  const std::filesystem::path& path() const { return path_; }
  // True once the thread ended on an unexpected error (logged); the
  // service then stops, like for any failed worker. Any thread.
  bool failed() const { return failed_.load(); }

 private:
  struct Connection;
  ControlServer(std::filesystem::path path, int listen_fd, int wake_fd, Handler handler, Log& log);
  void serve(std::stop_token stop);
  void acceptAll();
  // Reads, answers, writes; false when the connection is done.
  bool service(Connection& c, short revents);

  std::filesystem::path path_;
  int listen_fd_;
  int wake_fd_;  // eventfd: stop
  ino_t inode_ = 0;
  Handler handler_;
  Log& log_;
  std::vector<std::unique_ptr<Connection>> connections_;  // server thread only
  std::atomic<bool> failed_{false};
  std::jthread thread_;
};

}  // namespace jobwatch::app
