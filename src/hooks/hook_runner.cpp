// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_runner.h"

#include "hooks/hook_ledger_client.h"
#include "hooks/hook_supervisor.h"
#include "hooks/run_handoff.h"

namespace jobwatch::hooks {

std::string_view hookResultLabel(HookResult result) {
  switch (result) {
    case HookResult::kSuccess:
      return "success";
    case HookResult::kFailure:
      return "failure";
    case HookResult::kTimeout:
      return "timeout";
    case HookResult::kSpawnError:
      return "spawn_error";
  }
  return "failure";
}

namespace {

SupervisorOptions supervisorOptions(HookRunnerOptions& options) {
  return std::move(static_cast<SupervisorOptions&>(options));
}

}  // namespace

HookRunner::HookRunner(HookRunnerOptions options, state::StateStore& store, const Clock& clock,
                       Log& log, HookEvents* events)
    : handoff_(std::make_unique<RunHandoff>(options.hooks)),
      ledger_(std::make_unique<LedgerClient>(store, *handoff_, clock, log, events)),
      supervisor_(std::make_unique<HookSupervisor>(supervisorOptions(options), *handoff_, clock,
                                                   log, events, running_)) {}

HookRunner::~HookRunner() { stop(); }

void HookRunner::start() {
  if (supervisor_thread_.joinable()) return;
  handoff_->resume();
  supervisor_thread_ = std::jthread([this](std::stop_token stop) { supervisor_->run(stop); });
  ledger_thread_ = std::jthread([this](std::stop_token stop) { ledger_->run(stop); });
}

// The supervisor first (it drains and hands back releases), then the ledger
// (it records them): no run is claimed after the supervisor has stopped.
void HookRunner::stop() {
  if (!supervisor_thread_.joinable()) return;
  handoff_->beginStop();
  supervisor_thread_.request_stop();
  supervisor_thread_.join();
  ledger_thread_.request_stop();
  ledger_thread_.join();
}

bool HookRunner::failed() const { return handoff_->failed(); }

void HookRunner::wake() { handoff_->requestClaim(); }

void HookRunner::setHooks(config::HooksConfig hooks) { handoff_->setHooks(std::move(hooks)); }

void HookRunner::runUntilIdle(std::chrono::milliseconds max_wait) {
  start();
  if (handoff_->waitIdle(max_wait)) stop();
}

}  // namespace jobwatch::hooks
