// SPDX-License-Identifier: Apache-2.0
// LaneSettings: what one account's configuration says for each of its engine
// threads (SPEC "Accounts"): schedule, status words, HTTP transport with
// its key, hooks, results. Pure conversions from a validated Config; the
// keys are read by readAccountKeys (files or environment, never argv).
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/curl_multi_transport.h"
#include "config/config.h"
#include "scheduler/poll_engine.h"
#include "scheduler/roster.h"
#include "status/job_status.h"
#include "util/result.h"

namespace jobwatch::app {

// Account name -> its API key.
using AccountKeys = std::map<std::string, std::string>;

// Every account's key; the first that cannot be read is the error (naming
// the account).
Result<AccountKeys> readAccountKeys(const config::Config& config);

struct LaneSettings {
  std::string account;
  int threads = 1;
  scheduler::ScheduleSettings schedule;
  status::StatusMapper mapper;
  api::CurlTransportOptions transport;
  std::vector<config::HookDefinition> hooks;
  Millis result_give_up_after{3600000};
  scheduler::ShardSpec shard;
};

status::StatusMapper statusMapperFrom(const config::Config& config);

// One account's lane settings. The account's max_concurrent_requests is
// split over its threads (each at least 1), so together they keep to it.
// `threads` (> 0) overrides the account's: a reload keeps the running count.
LaneSettings laneSettingsFor(const config::Config& config, const config::AccountConfig& account,
                             const std::string& key, int threads = 0);

}  // namespace jobwatch::app
