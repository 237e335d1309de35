#include "app/service_parts.h"

#include <random>

#include "watchlist/watch_file.h"

namespace jobwatch::app {

scheduler::ScheduleSettings scheduleSettingsFrom(const config::Config& config) {
  scheduler::ScheduleSettings s;
  s.base_url = config.api.base_url;
  s.interval = config.poll.interval;
  s.jitter = config.poll.jitter;
  s.backoff_max = config.poll.backoff_max;
  s.give_up_after = config.poll.give_up_after;
  s.not_found_after = config.poll.not_found_after;
  s.max_in_flight = config.api.max_concurrent_requests;
  s.rate_per_second = config.api.rate_limit.per_second;
  return s;
}

Result<std::unique_ptr<ServiceParts>> ServiceParts::build(const config::Config& config, Log& log,
                                                          const Clock& clock) {
  auto key = config::readApiKey(config.api);
  if (!key.ok()) return Error{key.error().message};

  std::unique_ptr<ServiceParts> parts(new ServiceParts(config, log));
  api::CurlTransportOptions options;
  options.connect_timeout = config.api.connect_timeout;
  options.request_timeout = config.api.request_timeout;
  options.allow_http = config.api.allow_insecure_http;
  options.max_connections = config.api.max_concurrent_requests;
  options.headers.push_back(config.api.key_header + ": " + key.value());
  parts->transport_ = std::make_unique<api::CurlMultiTransport>(std::move(options));
  parts->events_ = std::make_unique<TransitionLog>(log);
  parts->engine_ = std::make_unique<scheduler::PollEngine>(
      scheduleSettingsFrom(config),
      status::StatusMapper(config.poll.status_aliases, config.poll.extra_terminal_statuses),
      *parts->transport_, clock, *parts->events_, log, std::random_device{}());
  return parts;
}

size_t ServiceParts::loadWatchFile(bool due_now) {
  if (!config_.watch.file) return 0;
  watchlist::WatchParse parsed = watchlist::loadWatchFile(*config_.watch.file);
  for (const auto& issue : parsed.issues) {
    log_.error("watch file entry rejected", {{"problem", issue.toString()}});
  }
  size_t added = 0;
  for (const auto& entry : parsed.entries) {
    added += engine_->addJob({entry.id, entry.labels}, due_now);
  }
  log_.info("watch file loaded", {{"file", config_.watch.file->string()},
                                  {"jobs", std::to_string(added)},
                                  {"rejected", std::to_string(parsed.issues.size())}});
  return parsed.issues.size();
}

}  // namespace jobwatch::app
