// SPDX-License-Identifier: Apache-2.0
#include "util/unix_group.h"

#include <grp.h>

#include <cerrno>
#include <vector>

namespace jobwatch {

std::optional<gid_t> unixGroupId(const std::string& name) {
  // A group with many members needs a larger buffer (ERANGE): grow to 1 MiB.
  for (size_t size = 16384; size <= (size_t{1} << 20); size *= 4) {
    std::vector<char> buf(size);
    struct group grp {};
    struct group* found = nullptr;
    const int rc = ::getgrnam_r(name.c_str(), &grp, buf.data(), buf.size(), &found);
    if (rc == ERANGE) continue;
    if (rc != 0 || found == nullptr) return std::nullopt;
    return found->gr_gid;
  }
  return std::nullopt;
}

}  // namespace jobwatch
