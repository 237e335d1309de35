// SPDX-License-Identifier: Apache-2.0
// The fixture of the HookRunner tests: a real StateStore in a temp dir,
// the system clock, a captured log and recorded hook events.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hook_test_support.h"
#include "hooks/hook_runner.h"
#include "support/fault_injecting_state_store.h"

namespace jobwatch::hooks {

using namespace std::chrono_literals;
using state::HookRun;
using state::HookRunState;

class RecordingEvents : public HookEvents {
 public:
  void onHookFinished(const std::string& hook, HookResult result,
                      std::chrono::duration<double> duration) override {
    std::lock_guard lock(mu_);
    finished_.push_back({hook, result, duration});
  }
  void onPendingChanged(size_t pending) override {
    std::lock_guard lock(mu_);
    pending_.push_back(pending);
  }

  struct Finished {
    std::string hook;
    HookResult result;
    std::chrono::duration<double> duration;
  };
  std::vector<Finished> finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }
  size_t finishedCount() { return finished().size(); }
  std::vector<HookResult> results() {
    std::vector<HookResult> out;
    for (const auto& f : finished()) out.push_back(f.result);
    return out;
  }
  std::optional<size_t> lastPending() {
    std::lock_guard lock(mu_);
    if (pending_.empty()) return std::nullopt;
    return pending_.back();
  }

 private:
  std::mutex mu_;
  std::vector<Finished> finished_;
  std::vector<size_t> pending_;
};

inline config::HookDefinition commandHook(std::string name, std::vector<std::string> command,
                                          std::chrono::milliseconds timeout = 10s,
                                          int retries = 0) {
  config::HookDefinition h;
  h.name = std::move(name);
  h.on = {"completed", "failed"};
  h.command = std::move(command);
  h.timeout = timeout;
  h.retries = retries;
  return h;
}

inline config::HookDefinition shellHook(std::string name, std::string shell,
                                        std::chrono::milliseconds timeout = 10s, int retries = 0) {
  config::HookDefinition h;
  h.name = std::move(name);
  h.on = {"*"};
  h.shell = std::move(shell);
  h.timeout = timeout;
  h.retries = retries;
  return h;
}

class HookRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::becomeSubreaper();
    openStore();
  }

  void openStore() {
    auto opened = state::StateStore::open(dir_.path() / "state.db");
    ASSERT_TRUE(opened) << opened.error().message;
    // Wrapped: a test can make its commits fail.
    store_ = std::make_unique<testing_support::FaultInjectingStateStore>(std::move(opened).value());
  }

  HookRunnerOptions options(std::vector<config::HookDefinition> defs, int max_concurrent = 4) {
    HookRunnerOptions o;
    o.hooks.max_concurrent = max_concurrent;
    o.hooks.definitions = std::move(defs);
    o.kill_grace = 500ms;
    o.drain_timeout = 300ms;
    o.retry_base = 10ms;
    o.retry_cap = 100ms;
    o.path_env = "/usr/local/bin:/usr/bin:/bin";
    o.lang_env = "C.UTF-8";
    return o;
  }

  std::unique_ptr<HookRunner> makeRunner(HookRunnerOptions o) {
    return std::make_unique<HookRunner>(std::move(o), *store_, clock_, log_, &events_);
  }

  HookRun sampleRun(const std::string& job_id, const std::string& hook) {
    HookRun run;
    run.job_id = job_id;
    run.status = "completed";
    run.hook = hook;
    run.previous_status = "processing";
    run.facts.status_raw = "COMPLETED";
    run.facts.type = "extraction";
    run.facts.pdf_name = "report.pdf";
    run.facts.pdf_hash = "sha256:abc";
    run.facts.created_at = "2024-01-15T10:30:00.000Z";
    run.facts.updated_at = "2024-01-15T10:31:00.000Z";
    run.body = R"({"id":")" + job_id + R"(","status":"COMPLETED"})";
    return run;
  }

  void addRuns(std::vector<HookRun> runs) {
    state::WriteBatch batch;
    batch.new_runs = std::move(runs);
    auto applied = store_->apply({batch});
    ASSERT_TRUE(applied) << applied.error().message;
  }

  HookRun ledger(const std::string& job_id, const std::string& hook) {
    auto runs = store_->runsForJob(job_id);
    EXPECT_TRUE(runs) << runs.error().message;
    if (runs) {
      for (const auto& r : *runs) {
        if (r.hook == hook) return r;
      }
    }
    ADD_FAILURE() << "no ledger row for " << job_id << " " << hook;
    return {};
  }

  bool ledgerState(const std::string& job_id, const std::string& hook, HookRunState state) {
    auto runs = store_->runsForJob(job_id);
    if (!runs) return false;
    for (const auto& r : *runs) {
      if (r.hook == hook) return r.state == state;
    }
    return false;
  }

  std::string path(const std::string& name) { return dir_ / name; }

  testing::TempDir dir_;
  std::unique_ptr<testing_support::FaultInjectingStateStore> store_;
  SystemClock clock_;
  testing::CapturedStream logs_;
  Log log_{LogFormat::kText, LogLevel::kDebug, logs_.stream()};
  RecordingEvents events_;
};

}  // namespace jobwatch::hooks
