// SPDX-License-Identifier: Apache-2.0
// Reading whole small files that other programs write (config, API key,
// watch file, drop files) without trusting them: only regular files, a size
// limit checked before and while reading (the file may grow), and an open
// that cannot hang on a FIFO. Errors say what is wrong ("not a regular
// file", "file is too large (N bytes, limit 16 MiB)", "cannot read: <errno
// text>") without naming the file: the caller knows it and names it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "util/result.h"

namespace jobwatch {

// Opens `path` (O_NONBLOCK, O_NOCTTY, O_CLOEXEC) and reads all of it.
[[nodiscard]] Result<std::string> readBoundedFile(const std::filesystem::path& path,
                                                  std::uintmax_t max_bytes);
// Reads all of the already open `fd`; the caller keeps owning it.
[[nodiscard]] Result<std::string> readBoundedFd(int fd, std::uintmax_t max_bytes);

}  // namespace jobwatch
