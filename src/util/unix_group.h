// SPDX-License-Identifier: Apache-2.0
// Looks up a Unix group by name through NSS (/etc/group, nss-systemd, ...),
// for control.group: the configuration checks that it exists, the control
// socket is given to it.
//
// Thread-safety: safe from any thread (getgrnam_r).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace jobwatch {

// The group's ID; nullopt when no group has that name (or NSS fails).
std::optional<gid_t> unixGroupId(const std::string& name);

}  // namespace jobwatch
