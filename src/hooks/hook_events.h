// SPDX-License-Identifier: Apache-2.0
// What the hook runner reports as hook runs end and the queue changes: the
// result of each run (the label of jobwatch_hook_runs_total) and the number
// of pending runs. app/ adapts these events to metrics.
//
// Thread-safety: a HookEvents receives onHookFinished() on the runner's
// supervisor thread and onPendingChanged() on its ledger thread, possibly
// at the same time; implementations must be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace jobwatch::hooks {

// How a hook run ended (the metric label of jobwatch_hook_runs_total).
enum class HookResult { kSuccess, kFailure, kTimeout, kSpawnError };
std::string_view hookResultLabel(HookResult result);

class HookEvents {
 public:
  virtual ~HookEvents() = default;
  // `duration` runs from the spawn to the reap of the process.
  virtual void onHookFinished(const std::string& hook, HookResult result,
                              std::chrono::duration<double> duration) = 0;
  virtual void onPendingChanged(size_t pending) = 0;
};

}  // namespace jobwatch::hooks
