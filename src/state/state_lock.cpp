// SPDX-License-Identifier: Apache-2.0
#include "state/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace jobwatch::state {

Result<std::unique_ptr<StateLock>> StateLock::acquire(const std::filesystem::path& state_path) {
  const std::string lock_path = state_path.string() + ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    const int err = errno;
    // A path or permission problem is the configuration's; anything else
    // (no descriptors, no space, I/O) may pass: restarting can help.
    const bool bad_input = err == EACCES || err == EPERM || err == EROFS || err == ENOENT ||
                           err == ENOTDIR || err == ELOOP;
    return Error{lock_path + ": cannot create the state lock: " + std::strerror(err),
                 bad_input ? ErrorKind::kBadInput : ErrorKind::kRuntime};
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    // Another process holding it (a `jobwatchd --once`, a second instance)
    // may be gone by the next start: a runtime condition, restarted.
    if (err == EWOULDBLOCK) {
      return Error{lock_path + ": another jobwatchd process is using the state database " +
                       state_path.string() + " (stop it, or give this one its own state.path)",
                   ErrorKind::kRuntime};
    }
    return Error{lock_path + ": cannot lock: " + std::strerror(err), ErrorKind::kRuntime};
  }
  return std::unique_ptr<StateLock>(new StateLock(fd));
}

StateLock::~StateLock() { ::close(fd_); }

}  // namespace jobwatch::state
