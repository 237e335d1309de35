// SPDX-License-Identifier: Apache-2.0
// AccountBudget: what the engine threads of one account share (SPEC
// "Accounts"): the token bucket of its `rate_limit` and the Retry-After pause
// a 429 or 503 imposes on every request made with its key.
//
// The vendor counts requests per window ("100 requests/min, 429 beyond").
// A token bucket alone does not keep to that: after an idle second it holds
// a second's worth of tokens, and a window that starts with that burst sees
// it on top of the rate (up to 101.7 requests in a minute at 100/min, twice
// the limit in a second at N/s). So the budget also counts the requests of
// the last window (the unit of the configured rate: 1 s or 1 min) and starts
// none while the window holds that many. A request counts from when it takes
// its token until a window after its answer came back (finished()): the API
// counted it when it arrived, somewhere in between, so however long it was
// on its way no window of the API's holds more than ours (a fixed margin
// for the time on the way let 429s through on a loaded machine). With `threads: N`
// the account's jobs are split over N engines, each on its own thread; they
// all take their tokens here, so the sum of their requests never exceeds the
// account's one budget, and a 429 seen by one pauses them all. Accounts never
// share one: an outage or a 429 of one account never slows another.
//
// In a fleet (SPEC "High availability") the instances share each account's
// rate: each takes `share` of it (1 / live instances), and polls only while
// its lease is known to hold (fleetLease: the instance stops polling when it
// cannot renew, e.g. the database is gone, or it was paused past its lease).
//
// Thread-safety: every method may be called from any thread (one short lock).
#pragma once

#include <atomic>
#include <deque>
#include <mutex>

#include "scheduler/poll_timing.h"
#include "util/clock.h"
#include "util/duration.h"

namespace jobwatch::scheduler {

class AccountBudget {
 public:
  // `window`: the length of the vendor's counting window (0: none).
  AccountBudget(double rate_per_second, SteadyTime now, Millis window = Millis{0});

  // Takes one request's token if no pause holds and one is there. Otherwise
  // false, with `wake` lowered to when one may be (the pause's end or the
  // next token).
  bool tryTake(SteadyTime now, SteadyTime& wake);
  // A request that took a token has its answer (any outcome).
  void finished(SteadyTime now);
  // A request that took a token was never sent (e.g. its result file could
  // not be created): its token and its place in the window are given back,
  // so failures that send nothing never use up the account's budget.
  void giveBack();
  // Whether a request could start now (no pause, a token there), without
  // taking anything.
  bool available(SteadyTime now) const;
  void setRate(double rate_per_second, SteadyTime now, Millis window = Millis{0});
  // The fleet's terms: this instance's share of the rate (0 < share <= 1)
  // and until when it may start requests at all (SteadyTime::max(): no
  // fleet). Past `may_poll_until` nothing starts; the caller wakes the
  // engines when it extends it.
  void setFleetTerms(double share, SteadyTime may_poll_until, SteadyTime now);
  // How long an engine waits before asking again while the lease is not
  // known to hold (a renewal also wakes it).
  static constexpr Millis kLeaseRecheck{500};

  // Pauses every request until `until`, unless a pause already lasts longer.
  // True when no pause held at `now`: a new pause began (worth a log line).
  bool pauseUntil(SteadyTime until, SteadyTime now);
  SteadyTime pausedUntil() const;

 private:
  // Whether the window holds its limit of requests; forgets older ones.
  bool windowFull(SteadyTime now, SteadyTime& wake);
  // Applies rate_ x share_ to the bucket and the window; with mu_ held.
  void applyRate(SteadyTime now);

  mutable std::mutex mu_;
  TokenBucket bucket_;         // guarded by mu_
  SteadyTime paused_until_{};  // guarded by mu_
  // The configured rate and window, and the fleet's terms (guarded by mu_).
  double rate_ = 0;
  Millis window_{0};
  double share_ = 1.0;
  SteadyTime may_poll_until_ = SteadyTime::max();
  // The requests in flight, and when those of the last window were answered
  // (oldest first); together bounded by the window's limit.
  size_t in_flight_ = 0;             // guarded by mu_
  std::deque<SteadyTime> answered_;  // guarded by mu_
  size_t window_limit_ = 0;          // 0: no window; guarded by mu_
  // window_limit_ > 0, readable without the lock: finished() runs for every
  // answer, and without a window (no rate limit) it has nothing to do.
  std::atomic<bool> counting_{false};
  SteadyTime::duration window_span_{};  // the window plus a small margin
};

}  // namespace jobwatch::scheduler
