// SPDX-License-Identifier: Apache-2.0
#include "scheduler/roster.h"

#include <algorithm>

#include "watchlist/shard.h"

namespace jobwatch::scheduler {

state::StoredJob toStoredJob(const JobRecord& job, std::string_view body,
                             std::string_view account) {
  state::StoredJob s;
  s.account = std::string(account);
  static_cast<status::Job&>(s) = job;
  s.last_body = std::string(body);
  s.consecutive_errors = job.consecutive_errors;
  return s;
}

JobRecord toJobRecord(const state::StoredJob& stored) {
  JobRecord job;
  static_cast<status::Job&>(job) = stored;
  job.consecutive_errors = stored.consecutive_errors;
  return job;
}

bool Roster::inShard(std::string_view id) const {
  return watchlist::inShard(id, shard_.index, shard_.count);
}

size_t Roster::restore(const std::vector<state::StoredJob>& jobs,
                       const std::vector<std::string>& tombstones) {
  size_t terminal = 0;
  for (const auto& stored : jobs) {
    terminal += stored.terminal;
    engine_.restoreJob(toJobRecord(stored));
  }
  tombstones_ = {tombstones.begin(), tombstones.end()};
  return terminal;
}

WatchFileApplied Roster::applyWatchFile(
    const watchlist::WatchParse& parsed, bool due_now,
    const std::function<bool(std::string_view)>& listed_anywhere) {
  // Memory: at 100,000 new jobs every temporary here would otherwise sit
  // between the jobs' own small allocations and leave holes in the heap
  // for good. So the one temporary index (`listed`) is a single array made
  // before any job is added, and the write batch is filled only after all
  // jobs are in the engine (README: Performance, Memory).
  std::vector<std::string_view> listed;
  listed.reserve(parsed.entries.size());
  for (const auto& entry : parsed.entries) {
    if (inShard(entry.id)) listed.push_back(entry.id);
  }
  std::sort(listed.begin(), listed.end());
  const auto isListed = [&listed](std::string_view id) {
    return std::binary_search(listed.begin(), listed.end(), id);
  };
  WatchFileApplied applied;
  applied.listed = parsed.entries.size();
  applied.other_shards = parsed.entries.size() - listed.size();
  applied.rejected = parsed.issues.size();

  state::WriteBatch batch;
  std::vector<size_t> new_entries;  // indexes into parsed.entries
  for (size_t i = 0; i < parsed.entries.size(); ++i) {
    const watchlist::WatchEntry& entry = parsed.entries[i];
    if (!inShard(entry.id) || tombstones_.count(entry.id) > 0) continue;
    if (fleet_) {
      if (engine_.find(entry.id) == nullptr) {
        batch.registered.push_back(
            registration({entry.id, entry.labels, status::JobSource::kWatchFile}));
      }
    } else if (engine_.addJob({entry.id, entry.labels, status::JobSource::kWatchFile}, due_now)) {
      new_entries.push_back(i);
    }
  }
  if (fleet_ && parsed.issues.empty()) {
    fleet_listed_.clear();
    for (std::string_view id : listed) fleet_listed_.emplace(id);
    fleet_listed_known_ = true;
  }
  batch.jobs.reserve(new_entries.size());
  for (size_t i : new_entries) {
    batch.jobs.push_back(toStoredJob(*engine_.find(parsed.entries[i].id), {}, account_));
  }
  std::vector<std::string> gone;
  if (parsed.issues.empty()) {
    engine_.forEachJob([&](const JobRecord& job) {
      if (job.source == status::JobSource::kWatchFile && !isListed(job.id)) gone.push_back(job.id);
    });
    for (auto it = tombstones_.begin(); it != tombstones_.end();) {
      if (!isListed(*it) && !(listed_anywhere && listed_anywhere(*it))) {
        batch.removed.push_back(*it);  // its tombstone goes
        it = tombstones_.erase(it);
      } else {
        ++it;
      }
    }
  } else {
    applied.kept_missing = true;
  }
  for (const auto& id : gone) engine_.removeJob(id);
  batch.removed.insert(batch.removed.end(), gone.begin(), gone.end());
  applied.added = batch.jobs.size() + batch.registered.size();
  applied.unwatched = gone.size();
  if (!batch.empty()) writer_.enqueue(std::move(batch));
  return applied;
}

size_t Roster::addDropped(const std::vector<watchlist::WatchEntry>& entries) {
  state::WriteBatch batch;
  for (const auto& entry : entries) {
    if (!inShard(entry.id)) continue;
    if (fleet_) {
      if (engine_.find(entry.id) == nullptr) {
        batch.registered.push_back(
            registration({entry.id, entry.labels, status::JobSource::kDropDir}));
      }
    } else if (engine_.addJob({entry.id, entry.labels, status::JobSource::kDropDir})) {
      batch.jobs.push_back(toStoredJob(*engine_.find(entry.id), {}, account_));
    }
  }
  const size_t added = batch.jobs.size() + batch.registered.size();
  if (!batch.empty()) writer_.enqueue(std::move(batch));
  return added;
}

state::StoredJob Roster::registration(const WatchedJob& job) const {
  state::StoredJob stored;
  stored.id = job.id;
  stored.labels = job.labels;
  stored.source = job.source;
  stored.account = account_;
  stored.added_at = engine_.clock().wallNow();
  return stored;
}

size_t Roster::adopt(const std::vector<state::StoredJob>& jobs) {
  size_t adopted = 0;
  state::WriteBatch batch;
  for (const auto& stored : jobs) {
    if (stored.source == status::JobSource::kWatchFile && fleet_listed_known_ &&
        fleet_listed_.count(stored.id) == 0) {
      batch.removed.push_back(stored.id);  // left the file while nobody held it
      continue;
    }
    adopted += engine_.restoreJob(toJobRecord(stored));
  }
  if (!batch.empty()) writer_.enqueue(std::move(batch));
  return adopted;
}

size_t Roster::release(const std::vector<std::string>& ids) {
  size_t released = 0;
  for (const auto& id : ids) {
    engine_.dropResult(id);
    released += engine_.removeJob(id);
  }
  return released;
}

std::vector<std::string> Roster::forgetFinished(WallTime cutoff) {
  std::vector<std::string> forgotten;
  engine_.forEachJob([&](const JobRecord& job) {
    if (job.terminal && job.terminal_at != WallTime{} && job.terminal_at < cutoff) {
      forgotten.push_back(job.id);
      if (job.source == status::JobSource::kWatchFile) tombstones_.insert(job.id);
    }
  });
  if (forgotten.empty()) return forgotten;
  std::sort(forgotten.begin(), forgotten.end());
  for (const auto& id : forgotten) engine_.removeJob(id);
  state::WriteBatch batch;
  batch.forgotten = forgotten;
  writer_.enqueue(std::move(batch));
  for (const auto& id : forgotten) engine_.forgetResult(id);  // after the rows are on their way
  return forgotten;
}

Roster::ForgetOutcome Roster::forgetDropped(const std::string& id) {
  const JobRecord* job = engine_.find(id);
  if (job == nullptr) return ForgetOutcome::kNotWatched;
  if (job->source == status::JobSource::kWatchFile) return ForgetOutcome::kInWatchFile;
  engine_.removeJob(id);
  state::WriteBatch batch;
  batch.forgotten.push_back(id);
  writer_.enqueue(std::move(batch));
  engine_.forgetResult(id);  // like forgetFinished: its result goes too
  return ForgetOutcome::kForgotten;
}

}  // namespace jobwatch::scheduler
