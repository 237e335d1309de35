// SPDX-License-Identifier: Apache-2.0
// Roster: decides which jobs are watched. It runs on the scheduler thread,
// beside the PollEngine (the one owner of each job's live state), and is the
// only component that adds jobs to the engine or takes them away:
//
//  - restore(): jobs and tombstones remembered in the state store, at start;
//  - applyWatchFile(): the watch file's jobs of this shard are watched, jobs
//    that left the file are unwatched (only when the file parsed cleanly: a
//    half-read file must not unwatch anything), and tombstones of jobs that
//    left the file go;
//  - addDropped(): jobs from drop files (they stay until forgotten);
//  - forgetFinished(): terminal jobs that finished before a cutoff
//    (state.forget_after) leave the engine; those from the watch file leave
//    a tombstone, so a job still listed there is not watched, and hooked,
//    all over again.
//
// Every change reaches the state store the way a status change does: as a
// WriteBatch to the StateWriter (engine -> writer), never backwards.
//
// Thread-safety: one thread (the scheduler thread once the loop runs).
// Ownership: the engine, writer and log must outlive the roster.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "scheduler/poll_engine.h"
#include "state/state_store.h"
#include "state/state_writer.h"
#include "util/clock.h"
#include "util/log.h"
#include "watchlist/watch_file.h"

namespace jobwatch::scheduler {

// Conversions between the engine's record and the stored row (the shared
// status::Job plus each side's own bookkeeping).
// The account is the lane's (the engine keeps none per job).
state::StoredJob toStoredJob(const JobRecord& job, std::string_view body,
                             std::string_view account = "default");
JobRecord toJobRecord(const state::StoredJob& stored);

struct ShardSpec {
  int index = 0;
  int count = 1;
};

// What applyWatchFile() did, for the log line.
struct WatchFileApplied {
  size_t listed = 0;          // entries in the file
  size_t added = 0;           // newly watched
  size_t unwatched = 0;       // left the file
  size_t other_shards = 0;    // listed, but another instance's
  size_t rejected = 0;        // entries with problems
  bool kept_missing = false;  // the file had problems: nothing was unwatched
};

class Roster {
 public:
  // The jobs it adds are stored as `account`'s (SPEC "Accounts").
  Roster(PollEngine& engine, state::StateWriter& writer, ShardSpec shard,
         std::string account = "default")
      : engine_(engine), writer_(writer), shard_(shard), account_(std::move(account)) {}

  // Start-up, before the loop runs: returns how many restored jobs are terminal.
  size_t restore(const std::vector<state::StoredJob>& jobs,
                 const std::vector<std::string>& tombstones);
  // `due_now` polls new jobs at once (--once). `parsed` holds this roster's
  // share of the file; `listed_anywhere`, when given, says whether an ID is
  // listed anywhere in the whole file (a tombstone goes only once its job
  // left the file, not when another engine's share lists it).
  WatchFileApplied applyWatchFile(
      const watchlist::WatchParse& parsed, bool due_now,
      const std::function<bool(std::string_view)>& listed_anywhere = {});
  // Returns how many jobs were new.
  size_t addDropped(const std::vector<watchlist::WatchEntry>& entries);
  // Returns the IDs forgotten. A forgotten job's result goes with it
  // (PollEngine::forgetResult), on this path and forgetDropped's alike.
  std::vector<std::string> forgetFinished(WallTime cutoff);

  // The operator's `forget`: a job from a drop file stops being watched and
  // is forgotten (with its history); a watch-file job is refused (remove it
  // from the watch file instead).
  enum class ForgetOutcome { kForgotten, kInWatchFile, kNotWatched };
  ForgetOutcome forgetDropped(const std::string& id);

  // SPEC "High availability": in a fleet the store decides which instance
  // polls a job (state_store.h: FleetTick). New jobs (watch file, drop
  // files) are registered in the store, not watched here; the fleet keeper
  // hands this roster the jobs its instance claimed (adopt) and takes back
  // those it lost (release). Removing and forgetting work on the jobs held.
  void joinFleet() { fleet_ = true; }
  bool inFleet() const { return fleet_; }
  // Watches claimed jobs as stored (a watch-file job that has left the
  // file meanwhile is unwatched instead). Returns how many were new here.
  size_t adopt(const std::vector<state::StoredJob>& jobs);
  // Stops watching jobs held elsewhere now (no write: the store moved
  // them). Returns how many were watched here.
  size_t release(const std::vector<std::string>& ids);

  bool inShard(std::string_view id) const;
  size_t tombstones() const { return tombstones_.size(); }
  const std::unordered_set<std::string>& tombstoneIds() const { return tombstones_; }

 private:
  // A fleet's new job, as registered in the store (held by nobody yet).
  state::StoredJob registration(const WatchedJob& job) const;

  PollEngine& engine_;
  state::StateWriter& writer_;
  const ShardSpec shard_;
  const std::string account_;
  // Forgotten watch-file jobs: still listed, never watched again.
  std::unordered_set<std::string> tombstones_;
  bool fleet_ = false;
  // In a fleet: this roster's share of the watch file as last applied
  // cleanly (a job adopted later that is no longer listed is unwatched),
  // and whether the file was read at all.
  std::unordered_set<std::string> fleet_listed_;
  bool fleet_listed_known_ = false;
};

}  // namespace jobwatch::scheduler
