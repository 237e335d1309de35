// SPDX-License-Identifier: Apache-2.0
// Daemon: the watch file, read, routed to the accounts' lanes and applied
// by each lane's Roster on its own thread (the rest of Daemon: daemon.cpp).
#include <algorithm>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "app/daemon.h"
#include "app/daemon_parts.h"
#include "app/job_routing.h"
#include "app/poll_lane.h"

namespace jobwatch::app {
namespace {

// One log line for a watch file applied over every lane.
void logWatchFileApplied(Log& log, const config::Config& config,
                         const scheduler::WatchFileApplied& applied) {
  if (applied.kept_missing) {
    log.warn("watch file has problems: jobs missing from it stay watched until it is fixed");
  }
  LogFields fields = {{"file", config.watch.file ? config.watch.file->string() : ""},
                      {"jobs", std::to_string(applied.listed)},
                      {"new", std::to_string(applied.added)},
                      {"unwatched", std::to_string(applied.unwatched)},
                      {"rejected", std::to_string(applied.rejected)}};
  if (config.shard.count > 1) {
    fields.push_back({"other_shards", std::to_string(applied.other_shards)});
  }
  log.info("watch file loaded", fields);
}

}  // namespace

std::optional<watchlist::WatchParse> Daemon::readWatchFile(const config::Config& config) {
  if (!config.watch.file) return std::nullopt;
  watchlist::WatchParse parsed = watchlist::loadWatchFile(*config.watch.file);
  for (const auto& issue : parsed.issues) {
    log_.error("watch file entry rejected", {{"problem", issue.toString()}});
  }
  parts_->metrics->watchRejected("file", parsed.issues.size());
  return parsed;
}

std::optional<std::vector<std::string>> Daemon::boundAccounts(
    const std::vector<watchlist::WatchEntry>& entries) {
  Parts& p = *parts_;
  std::vector<std::string> bound(entries.size());
  // Jobs kept aside stay bound to their (unconfigured) account.
  if (!p.aside.empty()) {
    std::unordered_map<std::string_view, const std::string*> aside;
    for (const auto& job : p.aside) aside[job.id] = &job.account;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (auto it = aside.find(entries[i].id); it != aside.end()) bound[i] = *it->second;
    }
  }
  // Which of the IDs each lane holds. A question still queued when the
  // wait ends may run later: it owns its copy of the IDs.
  const auto held_of = [](const std::vector<watchlist::WatchEntry>& of, PollLane& lane) {
    std::vector<size_t> mine;
    for (size_t i = 0; i < of.size(); ++i) {
      if (lane.engine().find(of[i].id) != nullptr) mine.push_back(i);
    }
    return mine;
  };
  const std::vector<LanePtr> lanes = p.pool->lanes();
  std::vector<std::optional<std::vector<size_t>>> answers;
  if (p.started) {
    auto copy = std::make_shared<std::vector<watchlist::WatchEntry>>();
    copy->reserve(entries.size());
    for (const auto& entry : entries) copy->push_back({entry.id, {}});
    answers = p.pool->askEach(std::function<std::vector<size_t>(PollLane&)>(
                                  [copy, held_of](PollLane& lane) { return held_of(*copy, lane); }),
                              kSchedulerAnswerWithin);
  } else {
    for (const LanePtr& lane : lanes) answers.emplace_back(held_of(entries, *lane));
  }
  for (size_t l = 0; l < answers.size() && l < lanes.size(); ++l) {
    if (!answers[l]) return std::nullopt;
    for (size_t i : *answers[l]) bound[i] = lanes[l]->account();
  }
  return bound;
}

std::vector<Daemon::LaneWork> Daemon::planWatchFile(const config::Config& config,
                                                    watchlist::WatchParse parsed, bool due_now) {
  auto bound = boundAccounts(parsed.entries);
  if (!bound) return {};
  // With several lanes each sees only its share: whether an ID is listed at
  // all (for tombstones) is asked of the whole file.
  std::shared_ptr<std::vector<std::string>> all_ids;
  if (parts_->pool->lanes().size() > 1) {
    all_ids = std::make_shared<std::vector<std::string>>();
    all_ids->reserve(parsed.entries.size());
    for (const auto& entry : parsed.entries) all_ids->push_back(entry.id);
    std::sort(all_ids->begin(), all_ids->end());
  }
  RoutedEntries routed = routeEntries(std::move(parsed.entries), *bound, *parts_->pool,
                                      config.watch.file ? *config.watch.file : "");
  for (const auto& issue : routed.issues) {
    log_.error("watch file entry rejected", {{"problem", issue.toString()}});
  }
  parts_->metrics->watchRejected("file", routed.issues.size());
  // Each lane applies its part on its own thread; the results are summed
  // for one log line.
  auto total = std::make_shared<std::mutex>();
  auto applied = std::make_shared<scheduler::WatchFileApplied>();
  auto left = std::make_shared<size_t>(routed.lanes.size());
  applied->rejected = parsed.issues.size() + routed.issues.size();
  Log& log = log_;
  std::vector<LaneWork> work;
  work.reserve(routed.lanes.size());
  for (size_t l = 0; l < routed.lanes.size(); ++l) {
    PollLane* lane = routed.lanes[l].get();
    auto part = std::make_shared<watchlist::WatchParse>();
    part->entries = std::move(routed.per_lane[l]);
    part->issues = parsed.issues;
    work.push_back({lane, [lane, part, due_now, total, applied, left, &log, config, all_ids] {
                      std::function<bool(std::string_view)> listed_anywhere;
                      if (all_ids) {
                        listed_anywhere = [&all_ids](std::string_view id) {
                          return std::binary_search(all_ids->begin(), all_ids->end(), id);
                        };
                      }
                      const scheduler::WatchFileApplied mine =
                          lane->roster().applyWatchFile(*part, due_now, listed_anywhere);
                      std::lock_guard lock(*total);
                      applied->listed += mine.listed;
                      applied->added += mine.added;
                      applied->unwatched += mine.unwatched;
                      applied->other_shards += mine.other_shards;
                      applied->kept_missing = applied->kept_missing || mine.kept_missing;
                      if (--*left == 0) logWatchFileApplied(log, config, *applied);
                    }});
  }
  return work;
}

bool Daemon::runOnLanes(std::vector<LaneWork> work) {
  bool queued = true;
  for (LaneWork& w : work) {
    if (parts_->started) {
      queued = w.lane->post(std::move(w.fn)) && queued;
    } else {
      w.fn();
    }
  }
  return queued;
}

void Daemon::loadWatchFile(const config::Config& config, bool due_now) {
  // Read and routed on a thread of its own: the YAML tree and the parsed
  // entries are allocated in that thread's malloc arena, not between the
  // jobs' own allocations in this one, where they would leave holes once
  // freed (README: Performance, Memory). The jobs are added here.
  std::vector<LaneWork> work;
  std::thread([&] {
    if (auto parsed = readWatchFile(config)) {
      work = planWatchFile(config, std::move(*parsed), due_now);
    }
  }).join();
  (void)runOnLanes(std::move(work));
}

bool Daemon::reloadWatchFile(const config::Config& config) {
  auto parsed = readWatchFile(config);
  if (!parsed) return true;
  return runOnLanes(planWatchFile(config, std::move(*parsed), false));
}

}  // namespace jobwatch::app
