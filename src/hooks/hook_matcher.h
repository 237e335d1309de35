// SPDX-License-Identifier: Apache-2.0
// Which configured hooks a status change triggers: a hook runs when a job
// enters a status listed in its `on` ("*" = every change) and, when
// `types` is given, the job's type is one of them.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace jobwatch::hooks {

std::vector<std::string> matchingHooks(const std::vector<config::HookDefinition>& hooks,
                                       std::string_view new_status, std::string_view job_type);

}  // namespace jobwatch::hooks
