// SPDX-License-Identifier: Apache-2.0
// Small POSIX pieces shared by the drop directory watcher, the drop file
// writer and the watch file monitor: an owning file descriptor, a rename
// that never replaces, full writes, unique names and time stamps for file
// names, printable file names, and reading inotify events. Internal to the
// watchlist module (not included by other modules).
//
// Thread-safety: pure functions; an Fd is owned by one thread at a time.
#pragma once

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "util/clock.h"

namespace jobwatch::watchlist {

std::string errnoText(int err);

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // close() with its error, for files whose data matters.
  int close() { return ::close(std::exchange(fd_, -1)); }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// renameat2(RENAME_NOREPLACE), with a check-then-rename fallback for file
// systems without it (we are the only writer of the target directory).
int renameNoReplace(int from_dir, const std::string& from, int to_dir, const std::string& to);

// write() until done; false (errno set) on an error other than EINTR.
bool writeAll(int fd, std::string_view data);

// 2*bytes lowercase hex digits from getrandom (uniqueness, not secrecy).
std::string randomHex(std::size_t bytes);

// "20261129T042856.123Z", for file names.
std::string utcStamp(WallTime t);

// File names are untrusted: keep control characters out of messages and
// .reason files (they could forge log lines).
std::string printableName(std::string_view name);

// The process-wide system clock used when a caller injects none.
const Clock& systemClock();

// The inotify events in one read() buffer.
template <typename F>
void forEachEvent(const char* buf, std::size_t len, F&& f) {
  std::size_t off = 0;
  while (off + sizeof(inotify_event) <= len) {
    inotify_event ev{};
    std::memcpy(&ev, buf + off, sizeof ev);
    std::string_view name;
    if (ev.len > 0 && off + sizeof ev + ev.len <= len) {
      const char* p = buf + off + sizeof ev;
      name = std::string_view(p, ::strnlen(p, ev.len));
    }
    f(ev, name);
    off += sizeof ev + ev.len;
  }
}

// Drains a non-blocking inotify descriptor. Returns errno on a hard error.
template <typename F>
int drainInotify(int fd, F&& f) {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return errno;
    }
    if (n == 0) return 0;
    forEachEvent(buf, static_cast<std::size_t>(n), f);
  }
}

}  // namespace jobwatch::watchlist
