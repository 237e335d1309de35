// The exact environment and argv a hook run gets (SPEC "Hooks"): PATH,
// LANG, and the JOBWATCH_* variables describing the job and the run.
// Nothing else of the daemon's environment is passed; never the API key.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "state/state_store.h"

namespace jobwatch::hooks {

// "NAME=value" strings. `path` and `lang` are the daemon's PATH and LANG
// (defaults when unset). `attempt` is 1 for the first run.
std::vector<std::string> hookEnvironment(const state::HookRun& run, int attempt,
                                         const std::string& path, const std::string& lang);

// argv for a definition: `command` as given, or {"/bin/sh", "-c", shell}.
std::vector<std::string> hookArgv(const config::HookDefinition& hook);

}  // namespace jobwatch::hooks
