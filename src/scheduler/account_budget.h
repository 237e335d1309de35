// SPDX-License-Identifier: Apache-2.0
// AccountBudget: what the engine threads of one account share (SPEC
// "Accounts"): the token bucket of its `rate_limit` and the Retry-After pause
// a 429 or 503 imposes on every request made with its key. With `threads: N`
// the account's jobs are split over N engines, each on its own thread; they
// all take their tokens here, so the sum of their requests never exceeds the
// account's one budget, and a 429 seen by one pauses them all. Accounts never
// share one: an outage or a 429 of one account never slows another.
//
// Thread-safety: every method may be called from any thread (one short lock).
#pragma once

#include <mutex>

#include "scheduler/poll_timing.h"
#include "util/clock.h"

namespace jobwatch::scheduler {

class AccountBudget {
 public:
  AccountBudget(double rate_per_second, SteadyTime now) : bucket_(rate_per_second, now) {}

  // Takes one request's token if no pause holds and one is there. Otherwise
  // false, with `wake` lowered to when one may be (the pause's end or the
  // next token).
  bool tryTake(SteadyTime now, SteadyTime& wake);
  // Whether a request could start now (no pause, a token there), without
  // taking anything.
  bool available(SteadyTime now) const;
  void setRate(double rate_per_second, SteadyTime now);

  // Pauses every request until `until`, unless a pause already lasts longer.
  // True when no pause held at `now`: a new pause began (worth a log line).
  bool pauseUntil(SteadyTime until, SteadyTime now);
  SteadyTime pausedUntil() const;

 private:
  mutable std::mutex mu_;
  TokenBucket bucket_;         // guarded by mu_
  SteadyTime paused_until_{};  // guarded by mu_
};

}  // namespace jobwatch::scheduler
