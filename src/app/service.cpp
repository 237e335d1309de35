// SPDX-License-Identifier: Apache-2.0
#include "app/service.h"

#include <malloc.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "app/command_line.h"
#include "app/control_handler.h"
#include "app/control_server.h"
#include "app/signals.h"
#include "app/version.h"

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

// Settings that only a restart applies; a reload keeps their old values.
std::vector<std::string> restartOnlyChanges(const config::Config& old_config,
                                            const config::Config& new_config) {
  std::vector<std::string> changed;
  const config::StateConfig& old_state = old_config.state;
  const config::StateConfig& new_state = new_config.state;
  if (old_state.backend != new_state.backend) changed.push_back("state.backend");
  if (old_state.path != new_state.path) changed.push_back("state.path");
  if (old_state.url_file != new_state.url_file || old_state.url_env != new_state.url_env) {
    changed.push_back("state.url_file/url_env");
  }
  if (old_state.instance != new_state.instance) changed.push_back("state.instance");
  if (old_state.lease != new_state.lease) changed.push_back("state.lease");
  if (old_config.metrics.listen != new_config.metrics.listen) changed.push_back("metrics.listen");
  if (old_config.metrics.per_job_series != new_config.metrics.per_job_series ||
      old_config.metrics.per_job_limit != new_config.metrics.per_job_limit) {
    changed.push_back("metrics.per_job_series/per_job_limit");
  }
  if (old_config.watch.drop_dir != new_config.watch.drop_dir) changed.push_back("watch.drop_dir");
  if (old_config.shard.index != new_config.shard.index ||
      old_config.shard.count != new_config.shard.count) {
    changed.push_back("shard");
  }
  if (old_config.control.socket != new_config.control.socket ||
      old_config.control.group != new_config.control.group) {
    changed.push_back("control");
  }
  return changed;
}

// How long a status page waits for the scheduler's job list.
constexpr Millis kStatusPageWait = 2s;

int exitCodeFor(const Error& error) {
  return error.kind == ErrorKind::kRuntime ? kExitRuntime : kExitBadInput;
}

std::unique_ptr<watchlist::WatchFileMonitor> monitorWatchFile(const config::Config& config,
                                                              Log& log) {
  if (!config.watch.file) return nullptr;
  auto monitor = watchlist::WatchFileMonitor::open(*config.watch.file);
  if (monitor.ok()) return std::move(monitor).value();
  log.warn("watch file changes will only be noticed on SIGHUP",
           {{"error", monitor.error().message}});
  return nullptr;
}

}  // namespace

Service::Service(std::filesystem::path config_path, config::Config config, Log& log,
                 std::unique_ptr<ServiceNotifier> notifier)
    : config_path_(std::move(config_path)),
      config_(std::move(config)),
      log_(log),
      notifier_(notifier ? std::move(notifier) : makeSilentNotifier()) {}

Service::~Service() {
  shutdown();
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

int Service::run() {
  if (int rc = start(); rc != kExitOk) return rc;
  const int rc = loop();
  // A worker that failed while the stop was being asked for still counts.
  const bool failed = shutdown();
  return failed ? kExitRuntime : rc;
}

int Service::start() {
  signal_fd_ = openSignalFd();
  if (signal_fd_ < 0) {
    log_.error("cannot open a signalfd");
    return kExitRuntime;
  }
  auto built = Daemon::build(config_, log_, clock_);
  if (!built.ok()) {
    log_.error(built.error().message);
    return exitCodeFor(built.error());
  }
  daemon_ = std::move(built).value();
  if (auto restored = daemon_->restore(); !restored.ok()) {
    log_.error(restored.error().message);
    return exitCodeFor(restored.error());
  }
  daemon_->loadWatchFile(config_, false);
  // Loading 100,000 jobs from the state database frees ~60 MiB of rows
  // below the jobs' own memory, where free() cannot give it back; hand
  // those pages to the kernel now (tests/bench/README.md: RSS per job).
  ::malloc_trim(0);
  watch_file_ = monitorWatchFile(config_, log_);
  if (config_.watch.drop_dir) {
    auto drop = watchlist::DropDirWatcher::open(*config_.watch.drop_dir);
    if (!drop.ok()) {
      log_.error(drop.error().message);
      return kExitBadInput;
    }
    drop_dir_ = std::move(drop).value();
  }
  // The status page at `/`; the server is stopped before the daemon goes.
  Daemon* daemon = daemon_.get();
  auto server = metrics::MetricsServer::start(
      config_.metrics.listen, daemon_->metricsCollectable(), [daemon](std::string_view query) {
        return serveStatusPage(query, [daemon](const PageQuery& parsed) {
          return daemon->statusPage(parsed, kStatusPageWait);
        });
      });
  if (!server.ok()) {
    log_.error(server.error().message);
    return kExitRuntime;
  }
  metrics_server_ = std::move(server).value();
  LogFields fields = {{"version", kVersion},
                      {"config", config_path_.string()},
                      {"base_url", config_.api.base_url},
                      {"jobs", std::to_string(daemon_->jobCount())},
                      {"interval", formatDuration(config_.poll.interval)}};
  daemon_->start(config_, *notifier_);
  if (!startControlServer()) return kExitBadInput;
  takeDropFiles();
  if (config_.shard.count > 1) {
    fields.push_back(
        {"shard", std::to_string(config_.shard.index) + "/" + std::to_string(config_.shard.count)});
  }
  log_.info("jobwatchd started", fields);
  log_.info("metrics served", {{"url", metrics_server_->url()}});
  log_.info("status page served", {{"url", metrics_server_->pageUrl()}});
  notifier_->ready();
  return kExitOk;
}

int Service::loop() {
  const Millis forget_every = std::clamp<Millis>(config_.state.forget_after / 2, 500ms, 60s);
  next_forget_ = clock_.now();
  for (;;) {
    if (clock_.now() >= next_forget_) {
      forgetOldJobs();
      next_forget_ = clock_.now() + forget_every;
    }
    trimAfterWriteBursts();
    daemon_->refreshMetrics();
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = {signal_fd_, POLLIN, 0};
    const nfds_t drop_index = drop_dir_ ? n : 99;
    if (drop_dir_) fds[n++] = {drop_dir_->fd(), POLLIN, 0};
    const nfds_t watch_index = watch_file_ ? n : 99;
    if (watch_file_) fds[n++] = {watch_file_->fd(), POLLIN, 0};
    // Wake at least every 500 ms: housekeeping, drop-dir settling, and a
    // worker thread that failed.
    int timeout_ms = 500;
    if (drop_dir_) {
      if (auto next = drop_dir_->nextCheckIn()) {
        timeout_ms = static_cast<int>(std::clamp<long long>(next->count(), 0, timeout_ms));
      }
    }
    ::poll(fds, n, timeout_ms);

    if (fds[0].revents & POLLIN) {
      const SignalRequests requests = readSignals(signal_fd_);
      if (requests.stop) return kExitOk;
      if (requests.reload) reload();
      if (requests.report && !daemon_->logStatusSummary()) {
        log_.warn("SIGUSR1: the scheduler is not running; no status summary");
      }
    }
    if (watch_index != 99 && (fds[watch_index].revents & POLLIN) && watch_file_->changed()) {
      reloadWatchFile();
    }
    if (drop_index != 99) takeDropFiles();
    if (control_server_ && control_server_->failed()) {
      log_.error("a worker thread failed; stopping so that the service manager restarts jobwatchd",
                 {{"thread", "control socket"}});
      return kExitRuntime;
    }
    if (auto failed = daemon_->failure()) {
      log_.error("a worker thread failed; stopping so that the service manager restarts jobwatchd",
                 {{"thread", *failed}});
      return kExitRuntime;
    }
  }
}

void Service::trimAfterWriteBursts() {
  // A burst - the first poll of 100,000 new jobs queues each job's body for
  // the state writer; the start-up batch of a new watch file - leaves
  // megabytes freed between the jobs' own allocations, where free() cannot
  // return them. Once the writer is idle, give the whole free pages back:
  // after at least kRows rows, at most every kEvery (a trim walks every
  // arena; a few milliseconds at 100,000 jobs).
  constexpr size_t kRows = 10'000;
  constexpr Millis kEvery = 10s;
  const size_t committed = daemon_->committedRows();
  if (committed - trimmed_at_rows_ < kRows || clock_.now() < next_trim_ || !daemon_->writerIdle()) {
    return;
  }
  ::malloc_trim(0);
  trimmed_at_rows_ = committed;
  next_trim_ = clock_.now() + kEvery;
}

void Service::takeDropFiles() {
  // One bounded batch per turn of the control loop, so signals are read
  // between batches (the loop's poll() does not sleep while more wait).
  if (!drop_dir_) return;
  {
    std::vector<watchlist::DropFileTaken> taken = drop_dir_->takeReady();
    for (const std::string& notice : drop_dir_->takeNotices()) {
      log_.warn("drop directory", {{"notice", notice}});
    }
    std::vector<watchlist::WatchEntry> entries;
    std::vector<const watchlist::DropFileTaken*> accepted;
    for (const watchlist::DropFileTaken& file : taken) {
      if (file.rejected) {
        daemon_->countRejected("drop_dir", 1);
        log_.error("drop file rejected",
                   {{"file", file.file.filename().string()}, {"reason", file.reason}});
        continue;
      }
      entries.insert(entries.end(), file.entries.begin(), file.entries.end());
      accepted.push_back(&file);
    }
    if (accepted.empty()) return;
    // Recorded durably (one commit for the whole batch) before the files
    // leave the drop directory: a crash in between takes them again, and
    // re-adding a watched job merges.
    const std::optional<size_t> added = daemon_->addDropped(std::move(entries));
    if (!added) {
      log_.error(
          "drop files not recorded yet: they stay in the drop directory and are taken "
          "again at the next start",
          {{"files", std::to_string(accepted.size())}});
      return;
    }
    size_t jobs = 0;
    for (const watchlist::DropFileTaken* file : accepted) {
      jobs += file->entries.size();
      if (auto finished = drop_dir_->finish(*file); !finished.ok()) {
        log_.warn("drop file recorded but not moved", {{"error", finished.error().message}});
      }
    }
    log_.info("drop files taken", {{"files", std::to_string(accepted.size())},
                                   {"jobs", std::to_string(jobs)},
                                   {"new", std::to_string(*added)}});
  }
}

void Service::forgetOldJobs() {
  if (!daemon_->forgetFinished(clock_.wallNow() - config_.state.forget_after,
                               config_.state.forget_after)) {
    log_.warn("the scheduler is not running; finished jobs are forgotten after a restart");
  }
}

void Service::reloadWatchFile() {
  if (!daemon_->reloadWatchFile(config_)) {
    log_.warn("the scheduler is not running; the watch file is read again after a restart");
  }
}

void Service::reload() {
  notifier_->reloading();
  reloadConfig();
  notifier_->ready();
}

void Service::reloadConfig() {
  log_.info("SIGHUP: reloading configuration", {{"config", config_path_.string()}});
  config::ConfigLoad load = config::loadConfigFile(config_path_);
  std::optional<AccountKeys> keys;
  if (load.issues.empty()) {
    auto read = readAccountKeys(*load.config);
    if (read.ok()) {
      keys = std::move(read).value();
    } else {
      load.issues.push_back({config_path_, 0, "api", read.error().message});
    }
  }
  if (!load.issues.empty()) {
    for (const auto& issue : load.issues) {
      log_.error("invalid configuration", {{"problem", issue.toString()}});
    }
    log_.error("reload failed: still running on the previous configuration");
    daemon_->configReloaded(false);
    return;
  }
  config::Config next = std::move(*load.config);
  for (const auto& warning : load.warnings) log_.warn(warning.toString());
  const std::vector<std::string> restart_only = restartOnlyChanges(config_, next);
  // Those keep their running values until a restart.
  next.state = config_.state;
  next.metrics = config_.metrics;
  next.watch.drop_dir = config_.watch.drop_dir;
  next.shard = config_.shard;

  log_.setLevel(next.logging.level);
  log_.setFormat(next.logging.format);
  if (!daemon_->reload(next, *keys)) {
    log_.warn("the scheduler has not applied the new configuration yet; it will");
  }
  const bool watch_file_moved = next.watch.file != config_.watch.file;
  config_ = std::move(next);
  if (watch_file_moved) watch_file_ = monitorWatchFile(config_, log_);
  reloadWatchFile();
  daemon_->configReloaded(true);
  if (!restart_only.empty()) {
    std::string list;
    for (const auto& name : restart_only) list += (list.empty() ? "" : ", ") + name;
    log_.warn("configuration reloaded, but these changed settings need a restart",
              {{"settings", list}});
  } else {
    log_.info("configuration reloaded");
  }
}

// A control socket the configuration cannot give (no such group, chown
// refused, not a socket at the path) stops the start with exit 1, so that
// `systemctl start` fails at once. One that cannot start for other reasons
// (no /run/jobwatchd outside systemd, another daemon on the same path) is
// logged loudly and the daemon runs on without operator commands: it still
// polls and runs hooks.
bool Service::startControlServer() {
  OperatorView& view = daemon_->operatorView();
  auto server = ControlServer::start(
      config_.control.socket, config_.control.group,
      [&view](std::string_view line) { return answerControlLine(view, line); }, log_);
  if (!server.ok()) {
    if (server.error().kind == ErrorKind::kBadInput) {
      log_.error(
          "cannot start: the control socket cannot be set up as configured (check "
          "control.socket and control.group)",
          {{"error", server.error().message}});
      return false;
    }
    log_.error(
        "operator commands unavailable: no control socket; jobwatchd keeps polling, "
        "but `jobwatchd status` and the other operator commands will say it is not "
        "running (check control.socket; under systemd RuntimeDirectory=jobwatchd "
        "makes /run/jobwatchd)",
        {{"error", server.error().message}});
    return true;
  }
  control_server_ = std::move(server).value();
  log_.info("control socket ready", {{"path", control_server_->path().string()}});
  return true;
}

bool Service::shutdown() {
  if (!daemon_) return false;
  // Ordered: no more operator requests, no new polls (answers in flight
  // are still recorded), commit state, drain hooks, then stop serving
  // metrics.
  notifier_->stopping();
  log_.info("stopping");
  control_server_.reset();
  daemon_->stop();
  const auto failed = daemon_->failure();
  log_.info("stopped", {{"jobs", std::to_string(daemon_->jobCount())}});
  metrics_server_.reset();
  daemon_.reset();
  return failed.has_value();
}

}  // namespace jobwatch::app
