// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_matcher.h"

#include <algorithm>

namespace jobwatch::hooks {

std::vector<std::string> matchingHooks(const std::vector<config::HookDefinition>& hooks,
                                       std::string_view new_status, std::string_view job_type) {
  std::vector<std::string> names;
  for (const auto& hook : hooks) {
    const bool status_matches =
        std::any_of(hook.on.begin(), hook.on.end(),
                    [&](const std::string& s) { return s == "*" || s == new_status; });
    if (!status_matches) continue;
    const bool type_matches = hook.types.empty() || std::find(hook.types.begin(), hook.types.end(),
                                                              job_type) != hook.types.end();
    if (!type_matches) continue;
    names.push_back(hook.name);
  }
  return names;
}

}  // namespace jobwatch::hooks
