// SPDX-License-Identifier: Apache-2.0
// The fake API's per-key accounting and rate limits (SPEC "Accounts": the
// vendor allows N requests per sliding minute per key). Every request that
// presents a configured key is counted for that key; a key with a limit
// admits at most `per_window` requests in any `window` (a sliding window
// over the times of the requests it admitted) and answers the rest 429
// with the whole seconds until the oldest admitted request leaves the
// window (at least 1). 429 answers do not count toward the window (the
// vendor's behaviour is unknown; not counting them is the kinder reading,
// and a client that honours Retry-After never meets the difference).
//
// Only configured keys (api_key, api_keys, rate_limits, or set through the
// admin API) are ever named in reports; any other presented value is
// counted under one anonymous tally, so a hostile key is never reflected.
//
// Thread-safety: all public methods may be called from any thread. The key
// table is guarded by `keys_mu_` (shared on the request path, exclusive when
// the admin API adds a key); each key's counts are atomics and only a
// limited key's window takes its own mutex. With no key configured the
// request path touches one atomic only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scenario.h"

namespace fakeapi {

class KeyLedger {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // `keys`: the keys to report (limited or not); `limits` add theirs.
  KeyLedger(const std::vector<std::string>& keys, const std::vector<RateLimit>& limits,
            Millis window);
  KeyLedger(const KeyLedger&) = delete;
  KeyLedger& operator=(const KeyLedger&) = delete;
  ~KeyLedger();

  // How a request ended before the limit is asked (faults come first, then
  // the key check; see JobStore::answerJobRequest).
  enum class Prior {
    kNone,         // a normal answer: the limit decides
    kAnswered,     // a fault answers (not 429): counted in the window, never refused
    kAnswered429,  // a fault answers 429 itself: not counted in the window
    kRefused,      // 401: not the key's request; counted in the tally only
  };
  // Counts the request; returns the Retry-After seconds when the key's
  // limit refuses it (answer 429), nothing otherwise.
  [[nodiscard]] std::optional<std::int64_t> admit(const std::string_view* presented, Prior prior,
                                                  SteadyTime now);

  // Sets (or, with per_window 0, removes) a key's limit, adding the key if
  // new. The key's window keeps the requests it admitted.
  void setLimit(const std::string& key, std::uint64_t per_window);
  // Adds a key to report (the admin API's new expected key).
  void addKey(const std::string& key);

  // ,"keys":{"K":{"count":N,"rejected_429":N,"per_window":N|null}},"other_keys":{"count":N}
  // (appended to the request log's object; keys sorted).
  void appendJson(std::string& out) const;
  // Clears the counts (the windows stay: the vendor does not forget).
  void resetCounts();

 private:
  struct KeyState;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  KeyState& stateFor(const std::string& key);  // requires keys_mu_ exclusive

  const Millis window_;
  mutable std::shared_mutex keys_mu_;
  // guarded by keys_mu_; nodes never removed, so a KeyState* stays valid
  std::unordered_map<std::string, std::unique_ptr<KeyState>, StringHash, std::equal_to<>> keys_;
  std::atomic<bool> have_keys_{false};
  std::atomic<std::uint64_t> other_count_{0};
};

}  // namespace fakeapi
