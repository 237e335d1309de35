// SPDX-License-Identifier: Apache-2.0
// Checks that span keys, run after every section is read: errors for
// settings that contradict each other, warnings for ones that work but
// probably are not what the operator meant.

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "config/base_url.h"
#include "config/listen_address.h"
#include "config/sections.h"
#include "config/spelling.h"
#include "status/job_status.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;

// The vendor's published floor for polling one job.
constexpr Millis kVendorMinInterval = 2s;

// Checks api.base_url, sets the normalised form, and tells whether it names
// this machine (false for the default and for a rejected URL).
bool checkApiBaseUrl(SchemaReader& r, const std::optional<std::string>& written, ApiConfig& api) {
  if (!written) return false;
  const std::string key = "api.base_url";
  const int line = r.lineFor(key);
  auto checked = checkBaseUrl(*written, api.allow_insecure_http);
  if (!checked.ok()) {
    r.error(key, line, checked.error().message);
    r.markBad(key);
    return false;
  }
  if (checked->warning) r.warning(key, line, *checked->warning);
  api.base_url = checked->url;
  return checked->loopback;
}

// The vendor deletes a job 7 days after it finishes; a job must be polled
// well before that, whatever the budget.
constexpr Millis kVendorRetention = std::chrono::hours(24 * 7);

void checkMaxInterval(SchemaReader& r, const PollConfig& poll) {
  if (r.isBad("poll.max_interval")) return;
  const int line = r.lineFor("poll.max_interval");
  if (poll.max_interval >= kVendorRetention) {
    r.error("poll.max_interval", line,
            "must be less than 7d (the API deletes a job 7 days after it finishes), got " +
                formatDuration(poll.max_interval));
  } else if (!r.isBad("poll.interval") && poll.max_interval < poll.interval) {
    r.error(line > 0 ? "poll.max_interval" : "poll.interval",
            line > 0 ? line : r.lineFor("poll.interval"),
            "poll.max_interval (" + formatDuration(poll.max_interval) +
                ") must be at least poll.interval (" + formatDuration(poll.interval) + ")");
  }
}

void checkPollAndShard(SchemaReader& r, const Config& cfg, bool base_url_loopback) {
  const PollConfig& poll = cfg.poll;
  if (!r.isBad("poll.interval") && !r.isBad("poll.backoff_max") &&
      poll.backoff_max < poll.interval) {
    const bool explicit_backoff = r.lineFor("poll.backoff_max") > 0;
    r.error(explicit_backoff ? "poll.backoff_max" : "poll.interval",
            explicit_backoff ? r.lineFor("poll.backoff_max") : r.lineFor("poll.interval"),
            "poll.backoff_max (" + formatDuration(poll.backoff_max) +
                ") must be at least poll.interval (" + formatDuration(poll.interval) + ")");
  }
  checkMaxInterval(r, poll);
  if (!r.isBad("shard.index") && !r.isBad("shard.count") && cfg.shard.index >= cfg.shard.count) {
    r.error("shard.index", r.lineFor("shard.index"),
            "must be less than shard.count (" + std::to_string(cfg.shard.count) + "), got " +
                std::to_string(cfg.shard.index));
  }
  if (!r.isBad("poll.interval") && !r.isBad("api.base_url") && poll.interval < kVendorMinInterval &&
      !base_url_loopback) {
    r.warning("poll.interval", r.lineFor("poll.interval"),
              formatDuration(poll.interval) +
                  " is faster than the API vendor allows (never poll a job more often than every "
                  "2s); use this only against a local test API");
  }
}

void checkTimeoutsAndListen(SchemaReader& r, const Config& cfg) {
  if (cfg.api.connect_timeout > cfg.api.request_timeout) {
    r.warning("api.connect_timeout", r.lineFor("api.connect_timeout"),
              "is longer than api.request_timeout (" + formatDuration(cfg.api.request_timeout) +
                  "), which bounds the whole request");
  }
  if (r.isBad("metrics.listen")) return;
  auto listen = parseListen(cfg.metrics.listen);
  if (listen.ok() && !listen.value().loopback) {
    r.warning("metrics.listen", r.lineFor("metrics.listen"),
              cfg.metrics.listen +
                  " is reachable from other machines, and metrics name job IDs and hooks; bind "
                  "to 127.0.0.1 unless a firewall or proxy guards it");
  }
}

// Hook `on` statuses nothing produces, or written as an alias, get a warning.
void checkHookStatuses(SchemaReader& r, const std::vector<PendingHookStatus>& pending,
                       const PollConfig& poll) {
  const auto& aliases = poll.status_aliases;
  std::vector<std::string> known = status::builtinStatuses();
  for (const auto& s : poll.extra_terminal_statuses) known.push_back(s);
  known.emplace_back("overdue");  // an event, not a status (SPEC "Overdue jobs")
  for (const auto& [from, to] : aliases) known.push_back(to);
  std::vector<std::string_view> known_views(known.begin(), known.end());
  for (const PendingHookStatus& p : pending) {
    if (auto alias = aliases.find(p.status); alias != aliases.end() && alias->second != p.status) {
      r.warning(p.key, p.line,
                "`" + p.status + "` is an alias: the API's word is mapped to `" + alias->second +
                    "` before hooks are matched, so write `" + alias->second + "`");
      continue;
    }
    if (std::find(known.begin(), known.end(), p.status) != known.end()) continue;
    std::string message = "`" + p.status + "` is not a status jobwatchd knows";
    if (auto guess = closestWord(p.status, known_views)) {
      message += " (did you mean `" + std::string(*guess) + "`?)";
    }
    message += "; the hook runs only if the API reports exactly this word";
    r.warning(p.key, p.line, std::move(message));
  }
}

// Hooks with with_result need a results.dir the daemon can create or use
// (SPEC "Results"). Whether the service user may write there is only known
// at start, so an unwritable existing directory is a warning here.
void checkResultsDir(SchemaReader& r, const Config& cfg) {
  size_t index = 0;
  std::string wanting;
  for (const auto& hook : cfg.hooks.definitions) {
    if (hook.with_result && wanting.empty()) {
      wanting = "hooks.definitions[" + std::to_string(index) + "].with_result";
    }
    ++index;
  }
  if (wanting.empty()) return;
  const std::string key = "results.dir";
  const int line = r.lineFor(key) > 0 ? r.lineFor(key) : r.lineFor(wanting);
  const std::filesystem::path& dir = cfg.results.dir;
  std::error_code ec;
  const auto st = std::filesystem::status(dir, ec);
  // This user cannot look (an operator's CLI, the service's state under
  // /var/lib/private): only the service can tell, at start.
  if (!std::filesystem::status_known(st)) return;
  if (std::filesystem::exists(st)) {
    if (!std::filesystem::is_directory(st)) {
      r.error(key, line, dir.string() + " is not a directory (" + wanting + " needs one)");
    } else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      r.warning(key, line,
                dir.string() +
                    " is not writable by this user; results cannot be stored unless "
                    "the service user may write there");
    }
    return;
  }
  const auto parent = std::filesystem::status(dir.parent_path(), ec);
  if (std::filesystem::status_known(parent) && !std::filesystem::is_directory(parent)) {
    r.error(key, line,
            dir.string() + " does not exist, nor does its parent directory (" + wanting +
                " needs a results directory jobwatchd can create)");
  }
}

}  // namespace

void checkAcrossKeys(SchemaReader& r, const DeferredChecks& later, Config& cfg) {
  const bool base_url_loopback = checkApiBaseUrl(r, later.base_url, cfg.api);
  checkPollAndShard(r, cfg, base_url_loopback);
  checkTimeoutsAndListen(r, cfg);
  checkHookStatuses(r, later.hook_statuses, cfg.poll);
  checkResultsDir(r, cfg);
}

}  // namespace jobwatch::config
