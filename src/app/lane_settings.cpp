// SPDX-License-Identifier: Apache-2.0
#include "app/lane_settings.h"

#include <algorithm>

namespace jobwatch::app {

Result<AccountKeys> readAccountKeys(const config::Config& config) {
  AccountKeys keys;
  for (const auto& account : config.accounts) {
    auto key = config::readApiKey(account);  // its errors name the account
    if (!key.ok()) return key.error();
    keys[account.name] = std::move(key).value();
  }
  return keys;
}

status::StatusMapper statusMapperFrom(const config::Config& config) {
  return status::StatusMapper(config.poll.status_aliases, config.poll.extra_terminal_statuses);
}

namespace {

api::CurlTransportOptions transportOptionsFrom(const config::ApiConfig& api, const std::string& key,
                                               int threads) {
  api::CurlTransportOptions options;
  options.connect_timeout = api.connect_timeout;
  options.request_timeout = api.request_timeout;
  options.allow_http = api.allow_insecure_http;
  options.max_connections = std::max(1, api.max_concurrent_requests / threads);
  options.headers.push_back(api.key_header + ": " + key);
  return options;
}

scheduler::ScheduleSettings scheduleSettingsFrom(const config::Config& config,
                                                 const config::ApiConfig& api, int threads) {
  scheduler::ScheduleSettings s;
  s.base_url = api.base_url;
  s.interval = config.poll.interval;
  s.jitter = config.poll.jitter;
  s.backoff_max = config.poll.backoff_max;
  s.give_up_after = config.poll.give_up_after;
  s.not_found_after = config.poll.not_found_after;
  s.max_in_flight = std::max(1, api.max_concurrent_requests / threads);
  s.rate_per_second = api.rate_limit.per_second;  // the account's, shared by its threads
  s.rate_window = api.rate_limit.window;
  s.rate_share = 1.0 / threads;
  s.strategy = config.poll.strategy == config::PollStrategyName::kAdaptive
                   ? scheduler::PollStrategy::kAdaptive
                   : scheduler::PollStrategy::kRoundRobin;
  s.max_interval = config.poll.max_interval;
  s.overdue_auto = config.poll.overdue_after.mode == config::OverdueAfter::Mode::kAuto;
  s.overdue_after = config.poll.overdue_after.mode == config::OverdueAfter::Mode::kFixed
                        ? config.poll.overdue_after.after
                        : Millis{0};
  return s;
}

}  // namespace

LaneSettings laneSettingsFor(const config::Config& config, const config::AccountConfig& account,
                             const std::string& key, int threads) {
  LaneSettings s;
  s.account = account.name;
  s.threads = std::max(1, threads > 0 ? threads : account.threads);
  s.schedule = scheduleSettingsFrom(config, account.api, s.threads);
  s.mapper = statusMapperFrom(config);
  s.transport = transportOptionsFrom(account.api, key, s.threads);
  s.hooks = config.hooks.definitions;
  s.result_give_up_after = config.results.give_up_after;
  s.shard = {config.shard.index, config.shard.count};
  return s;
}

}  // namespace jobwatch::app
