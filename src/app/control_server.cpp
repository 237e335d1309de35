// SPDX-License-Identifier: Apache-2.0
#include "app/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "app/control_protocol.h"
#include "util/current_exception.h"
#include "util/unix_group.h"

namespace jobwatch::app {
namespace {

using Steady = std::chrono::steady_clock;

std::string errnoText(int err) { return strerrordesc_np(err); }

Error socketError(const std::filesystem::path& path, const std::string& what, int err) {
  return Error{"control socket " + path.string() + ": " + what + ": " + errnoText(err),
               ErrorKind::kRuntime};
}

bool fillAddress(const std::filesystem::path& path, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  const std::string s = path.string();
  if (s.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  return true;
}

// Whether a process answers on the socket at `path`.
bool someoneListens(const std::filesystem::path& path) {
  sockaddr_un addr;
  if (!fillAddress(path, addr)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  const bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  ::close(fd);
  return live;
}

// Removes a stale socket file; refuses a live socket or another file.
Status clearStale(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Ok{};
    return socketError(path, "cannot inspect the path", errno);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Error{"control socket " + path.string() +
                     ": the path exists and is not a socket; not replacing it",
                 ErrorKind::kBadInput};
  }
  if (someoneListens(path)) {
    return Error{"control socket " + path.string() +
                     ": another process (a running jobwatchd?) answers on it",
                 ErrorKind::kRuntime};
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return socketError(path, "cannot remove the stale socket", errno);
  }
  return Ok{};
}

Result<gid_t> groupId(const std::string& name) {
  if (auto gid = unixGroupId(name)) return *gid;
  return Error{"control.group: no group named \"" + name + "\" on this machine",
               ErrorKind::kBadInput};
}

// Gives the socket file at `tmp` to `group`. Nothing to do when it already
// has that group: the service runs with it as its own (the unit's Group=),
// which is the only way under the shipped unit, whose system call filter
// refuses chown (@privileged). Any other refusal is a configuration error.
Status giveToGroup(const std::filesystem::path& path, const std::filesystem::path& tmp,
                   const std::string& group) {
  auto gid = groupId(group);
  if (!gid) return gid.error();
  struct stat st {};
  if (::stat(tmp.c_str(), &st) == 0 && st.st_gid == *gid) return Ok{};
  if (::chown(tmp.c_str(), static_cast<uid_t>(-1), *gid) == 0) return Ok{};
  const int err = errno;
  return Error{"control socket " + path.string() + ": cannot give it to control.group \"" + group +
                   "\" (chown: " + errnoText(err) +
                   "); run the service with that group instead: under systemd a drop-in "
                   "(systemctl edit jobwatchd) with [Service] Group=" +
                   group + " (README \"Operator commands\")",
               ErrorKind::kBadInput};
}

// Binds and listens at `tmp`, sets mode and group, renames it to `path`.
Result<int> bindSocket(const std::filesystem::path& path, const std::filesystem::path& tmp,
                       const std::string& group) {
  sockaddr_un addr;
  if (!fillAddress(tmp, addr)) {
    return Error{"control socket path too long: " + tmp.string(), ErrorKind::kBadInput};
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return socketError(path, "cannot create a socket", errno);
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    if (tmp != path) ::unlink(tmp.c_str());
    return socketError(path, what, err);
  };
  ::unlink(tmp.c_str());  // a leftover of this very PID
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  if (::chmod(tmp.c_str(), 0660) != 0) return fail("chmod 0660");
  if (!group.empty()) {
    if (auto given = giveToGroup(path, tmp, group); !given) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return given.error();
    }
  }
  if (::listen(fd, 128) != 0) return fail("listen");
  if (tmp != path && ::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename into place");
  return fd;
}

}  // namespace

struct ControlServer::Connection {
  explicit Connection(int f) : fd(f) {}
  ~Connection() { ::close(fd); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  int fd;
  std::string in;
  std::string out;
  size_t written = 0;
  bool answering = false;
  Steady::time_point deadline = Steady::now() + kRequestDeadline;
};

Result<std::unique_ptr<ControlServer>> ControlServer::start(const std::filesystem::path& path,
                                                            const std::string& group,
                                                            Handler handler, Log& log) {
  if (!path.has_parent_path() || !std::filesystem::is_directory(path.parent_path())) {
    return Error{"control socket " + path.string() + ": directory " + path.parent_path().string() +
                     " does not exist (the unit's RuntimeDirectory= makes /run/jobwatchd)",
                 ErrorKind::kRuntime};
  }
  if (auto cleared = clearStale(path); !cleared) return cleared.error();
  std::filesystem::path tmp = path;
  tmp += "." + std::to_string(::getpid()) + ".tmp";
  if (tmp.string().size() >= sizeof(sockaddr_un::sun_path)) tmp = path;
  auto fd = bindSocket(path, tmp, group);
  if (!fd) return fd.error();
  const int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(*fd);
    return socketError(path, "eventfd", errno);
  }
  std::unique_ptr<ControlServer> server(
      new ControlServer(path, *fd, wake, std::move(handler), log));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) server->inode_ = st.st_ino;
  server->thread_ = std::jthread([s = server.get()](std::stop_token stop) { s->serve(stop); });
  return server;
}

ControlServer::ControlServer(std::filesystem::path path, int listen_fd, int wake_fd,
                             Handler handler, Log& log)
    : path_(std::move(path)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      handler_(std::move(handler)),
      log_(log) {}

ControlServer::~ControlServer() {
  stop();
  ::close(wake_fd_);
}

void ControlServer::stop() {
  if (listen_fd_ < 0) return;
  thread_.request_stop();
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && st.st_ino == inode_) ::unlink(path_.c_str());
}

void ControlServer::serve(std::stop_token stop) {
  try {
    std::vector<pollfd> fds;
    while (!stop.stop_requested()) {
      fds.clear();
      fds.push_back({wake_fd_, POLLIN, 0});
      const bool accepting = connections_.size() < kMaxConnections;
      fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
      auto next = Steady::now() + std::chrono::seconds(1);
      for (const auto& c : connections_) {
        fds.push_back({c->fd, static_cast<short>(c->answering ? POLLOUT : POLLIN), 0});
        next = std::min(next, c->deadline);
      }
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Steady::now());
      ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(0, wait.count())));
      if (fds[0].revents != 0) break;
      // Connections first (their fds[] entries line up with connections_).
      const auto now = Steady::now();
      std::vector<std::unique_ptr<Connection>> kept;
      for (size_t i = 0; i < connections_.size(); ++i) {
        auto& c = connections_[i];
        const short revents = fds[i + 2].revents;
        if (revents != 0 && !service(*c, revents)) continue;
        if (now >= c->deadline) {
          log_.debug("control connection closed: deadline passed");
          continue;
        }
        kept.push_back(std::move(c));
      }
      connections_ = std::move(kept);
      if ((fds[1].revents & POLLIN) != 0) acceptAll();
    }
  } catch (...) {
    log_.error("control socket thread failed", {{"error", currentExceptionText()}});
    failed_.store(true);
  }
  connections_.clear();
}

void ControlServer::acceptAll() {
  while (connections_.size() < kMaxConnections) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
        log_.warn("control socket: accept failed", {{"error", errnoText(errno)}});
      }
      return;
    }
    connections_.push_back(std::make_unique<Connection>(fd));
  }
}

bool ControlServer::service(Connection& c, short revents) {
  if (!c.answering) {
    bool eof = false;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (c.in.size() > kMaxRequestBytes) break;
        continue;
      }
      if (n == 0) eof = true;
      if (n < 0 && (errno == EINTR)) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return false;
      break;
    }
    const size_t newline = c.in.find('\n');
    std::string answer;
    if (newline <= kMaxRequestBytes) {  // a whole line within the cap (npos is larger)
      answer = handler_(std::string_view(c.in).substr(0, newline));
    } else if (c.in.size() > kMaxRequestBytes) {
      answer = encodeResponse(
          errorResponse("request larger than " + std::to_string(kMaxRequestBytes) + " bytes"));
    } else if (eof) {
      if (c.in.empty()) return false;
      answer = handler_(c.in);  // a last line without its newline
    } else {
      return (revents & (POLLERR | POLLHUP)) == 0;
    }
    c.in.clear();
    c.in.shrink_to_fit();
    c.out = std::move(answer) + "\n";
    c.answering = true;
    c.deadline = Steady::now() + kAnswerDeadline;
  }
  while (c.written < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
    if (n > 0) {
      c.written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return false;  // answered: close
}

}  // namespace jobwatch::app
