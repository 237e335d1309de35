// ServiceParts: the objects one running configuration needs, built in
// dependency order from a validated Config (and torn down in reverse):
// the API key, the curl transport, the transition log and the poll engine,
// with the watch file's jobs added.
//
// Ownership: owns everything it builds; the Log and Clock are borrowed.
// Thread-safety: built on the main thread, then driven by the PollLoop.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/curl_multi_transport.h"
#include "app/transition_log.h"
#include "config/config.h"
#include "scheduler/poll_engine.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/result.h"

namespace jobwatch::app {

scheduler::ScheduleSettings scheduleSettingsFrom(const config::Config& config);

class ServiceParts {
 public:
  // Fails (with a message for the operator) when the API key is missing.
  static Result<std::unique_ptr<ServiceParts>> build(const config::Config& config, Log& log,
                                                     const Clock& clock);

  // Adds the watch file's jobs. Bad entries are logged with file and line
  // and skipped; the good ones are watched. Returns the number of problems.
  size_t loadWatchFile(bool due_now);

  scheduler::PollEngine& engine() { return *engine_; }
  api::HttpTransport& transport() { return *transport_; }
  const config::Config& config() const { return config_; }

 private:
  ServiceParts(const config::Config& config, Log& log) : config_(config), log_(log) {}

  config::Config config_;
  Log& log_;
  std::unique_ptr<api::CurlMultiTransport> transport_;
  std::unique_ptr<TransitionLog> events_;
  std::unique_ptr<scheduler::PollEngine> engine_;
};

}  // namespace jobwatch::app
