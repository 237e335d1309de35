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
    return Error{lock_path + ": cannot create the state lock: " + std::strerror(errno)};
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Error{lock_path + ": another jobwatchd process is using the state database " +
                   state_path.string() + " (stop it, or give this one its own state.path)"};
    }
    return Error{lock_path + ": cannot lock: " + std::strerror(err)};
  }
  return std::unique_ptr<StateLock>(new StateLock(fd));
}

StateLock::~StateLock() { ::close(fd_); }

}  // namespace jobwatch::state
