// SPDX-License-Identifier: Apache-2.0
#include "app/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/command_line.h"

namespace jobwatch::app {
namespace {

using Steady = std::chrono::steady_clock;

Error failed(const std::filesystem::path& socket, const std::string& what) {
  return Error{"control socket " + socket.string() + ": " + what, ErrorKind::kRuntime};
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool waitFor(int fd, short events, Steady::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Steady::now());
    if (left.count() <= 0) return false;
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

Result<std::string> exchange(int fd, const std::filesystem::path& socket, std::string line,
                             Steady::time_point deadline) {
  line += '\n';
  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!waitFor(fd, POLLOUT, deadline)) return failed(socket, "timed out sending the request");
    } else {
      return failed(socket, std::string("send: ") + strerrordesc_np(errno));
    }
  }
  std::string answer;
  char buf[65536];
  for (;;) {
    if (!waitFor(fd, POLLIN, deadline)) return failed(socket, "timed out waiting for the answer");
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      answer.append(buf, static_cast<size_t>(n));
      if (answer.size() > kMaxAnswerBytes) return failed(socket, "answer too large");
      if (const size_t nl = answer.find('\n'); nl != std::string::npos) {
        answer.resize(nl);
        return answer;
      }
    } else if (n == 0) {
      return failed(socket, "the daemon closed the connection without an answer");
    } else if (errno != EINTR && errno != EAGAIN) {
      return failed(socket, std::string("recv: ") + strerrordesc_np(errno));
    }
  }
}

}  // namespace

DaemonCall callDaemon(const std::filesystem::path& socket, const ControlRequest& request,
                      std::chrono::milliseconds timeout) {
  DaemonCall call;
  const auto deadline = Steady::now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.size() >= sizeof addr.sun_path) {
    call.response = failed(socket, "path too long");
    return call;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    call.response = failed(socket, std::string("socket: ") + strerrordesc_np(errno));
    return call;
  }
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno == EAGAIN) {
    // The daemon's backlog is full: wait for room (Linux reports EAGAIN
    // for a non-blocking Unix connect; retry until the deadline).
    while (rc != 0 && errno == EAGAIN && Steady::now() < deadline) {
      ::usleep(10'000);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
  }
  if (rc != 0) {
    const int err = errno;
    ::close(fd);
    call.not_running = err == ENOENT || err == ECONNREFUSED;
    call.denied = err == EACCES || err == EPERM;
    call.response = failed(
        socket, std::string("connect: ") + strerrordesc_np(err) +
                    (call.denied ? " (only the service user and the members of control.group "
                                   "may use the control socket)"
                                 : ""));
    return call;
  }
  call.connected = true;
  auto answer = exchange(fd, socket, encodeRequest(request), deadline);
  ::close(fd);
  if (!answer) {
    call.response = Error{"the daemon is running, but " + answer.error().message};
    return call;
  }
  call.response = parseResponse(*answer);
  return call;
}

int exitCodeForFailedCall(const DaemonCall& call) {
  return call.connected || call.denied ? kExitBadInput : kExitRuntime;
}

}  // namespace jobwatch::app
