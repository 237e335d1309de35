// SPDX-License-Identifier: Apache-2.0
#include "util/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace jobwatch {
namespace {

std::string describeLimit(std::uintmax_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::string> readBoundedFile(const std::filesystem::path& path, std::uintmax_t max_bytes) {
  // O_NONBLOCK: opening a FIFO by mistake must not hang the daemon.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return Error{std::string("cannot open: ") + std::strerror(errno)};
  auto text = readBoundedFd(fd, max_bytes);
  ::close(fd);
  return text;
}

Result<std::string> readBoundedFd(int fd, std::uintmax_t max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error{std::string("cannot stat: ") + std::strerror(errno)};
  if (!S_ISREG(st.st_mode)) return Error{"not a regular file"};
  if (static_cast<std::uintmax_t>(st.st_size) > max_bytes) {
    return Error{"file is too large (" + std::to_string(st.st_size) + " bytes, limit " +
                 describeLimit(max_bytes) + ")"};
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{std::string("cannot read: ") + std::strerror(errno)};
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      return Error{"file is too large (grew past the limit of " + describeLimit(max_bytes) +
                   " while being read)"};
    }
  }
  return out;
}

}  // namespace jobwatch
