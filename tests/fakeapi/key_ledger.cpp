// SPDX-License-Identifier: Apache-2.0
#include "key_ledger.h"

#include <algorithm>

#include "json_text.h"

namespace fakeapi {

struct KeyLedger::KeyState {
  // Counts are atomics, so an unlimited key's requests (the benchmarks')
  // never contend on a lock; the window is guarded by mu.
  std::atomic<std::uint64_t> count{0};         // every request presenting the key
  std::atomic<std::uint64_t> rejected_429{0};  // of them, refused by the limit
  std::atomic<std::uint64_t> per_window{0};    // 0: no limit; written under mu
  mutable std::mutex mu;
  std::deque<SteadyTime> admitted;  // guarded by mu: admitted requests in the window
};

KeyLedger::KeyLedger(const std::vector<std::string>& keys, const std::vector<RateLimit>& limits,
                     Millis window)
    : window_(window) {
  for (const std::string& key : keys) addKey(key);
  for (const RateLimit& limit : limits) setLimit(limit.key, limit.per_window);
}

KeyLedger::~KeyLedger() = default;

KeyLedger::KeyState& KeyLedger::stateFor(const std::string& key) {
  auto& slot = keys_[key];
  if (!slot) slot = std::make_unique<KeyState>();
  have_keys_.store(true, std::memory_order_release);
  return *slot;
}

void KeyLedger::addKey(const std::string& key) {
  if (key.empty()) return;
  std::unique_lock lock(keys_mu_);
  (void)stateFor(key);
}

void KeyLedger::setLimit(const std::string& key, std::uint64_t per_window) {
  std::unique_lock lock(keys_mu_);
  KeyState& state = stateFor(key);
  std::lock_guard key_lock(state.mu);
  state.per_window.store(per_window, std::memory_order_relaxed);
  if (per_window == 0) state.admitted.clear();
}

std::optional<std::int64_t> KeyLedger::admit(const std::string_view* presented, Prior prior,
                                             SteadyTime now) {
  KeyState* state = nullptr;
  if (presented != nullptr && have_keys_.load(std::memory_order_acquire)) {
    std::shared_lock lock(keys_mu_);
    const auto it = keys_.find(*presented);
    if (it != keys_.end()) state = it->second.get();
  }
  if (state == nullptr) {
    other_count_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  state->count.fetch_add(1, std::memory_order_relaxed);
  if (prior == Prior::kRefused || prior == Prior::kAnswered429 ||
      state->per_window.load(std::memory_order_relaxed) == 0) {
    return std::nullopt;
  }
  std::lock_guard lock(state->mu);
  const std::uint64_t per_window = state->per_window.load(std::memory_order_relaxed);
  if (per_window == 0) return std::nullopt;  // removed meanwhile
  auto& admitted = state->admitted;
  while (!admitted.empty() && admitted.front() + window_ <= now) admitted.pop_front();
  if (prior == Prior::kNone && admitted.size() >= per_window) {
    state->rejected_429.fetch_add(1, std::memory_order_relaxed);
    // Admitted again once enough of the oldest left: the first of them at
    // its time + window_.
    const auto wait = admitted[admitted.size() - per_window] + window_ - now;
    return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
  }
  // Kept in order even when threads stamped their requests out of order.
  admitted.push_back(admitted.empty() ? now : std::max(now, admitted.back()));
  return std::nullopt;
}

void KeyLedger::appendJson(std::string& out) const {
  std::vector<std::pair<std::string_view, const KeyState*>> sorted;
  {
    std::shared_lock lock(keys_mu_);
    for (const auto& [key, state] : keys_) sorted.emplace_back(key, state.get());
    std::sort(sorted.begin(), sorted.end());
    out.append(",\"keys\":{");
    bool first = true;
    for (const auto& [key, state] : sorted) {
      const KeyState& s = *state;
      if (!first) out.push_back(',');
      first = false;
      appendJsonString(out, key);
      out.append(":{\"count\":");
      appendUnsigned(out, s.count.load(std::memory_order_relaxed));
      out.append(",\"rejected_429\":");
      appendUnsigned(out, s.rejected_429.load(std::memory_order_relaxed));
      out.append(",\"per_window\":");
      const std::uint64_t per_window = s.per_window.load(std::memory_order_relaxed);
      if (per_window == 0) {
        out.append("null");
      } else {
        appendUnsigned(out, per_window);
      }
      out.push_back('}');
    }
  }
  out.append("},\"other_keys\":{\"count\":");
  appendUnsigned(out, other_count_.load(std::memory_order_relaxed));
  out.push_back('}');
}

void KeyLedger::resetCounts() {
  std::shared_lock lock(keys_mu_);
  for (const auto& [key, state] : keys_) {
    state->count.store(0, std::memory_order_relaxed);
    state->rejected_429.store(0, std::memory_order_relaxed);
  }
  other_count_.store(0, std::memory_order_relaxed);
}

}  // namespace fakeapi
