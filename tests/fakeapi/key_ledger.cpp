// SPDX-License-Identifier: Apache-2.0
#include "key_ledger.h"

#include <algorithm>

#include "json_text.h"

namespace fakeapi {

struct KeyLedger::KeyState {
  mutable std::mutex mu;
  // All below guarded by mu.
  std::uint64_t count = 0;          // every request presenting the key
  std::uint64_t rejected_429 = 0;   // of them, refused by the limit
  std::uint64_t per_window = 0;     // 0: no limit
  std::deque<SteadyTime> admitted;  // times of admitted requests in the window (limited keys)
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
  state.per_window = per_window;
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
  std::lock_guard lock(state->mu);
  ++state->count;
  if (state->per_window == 0 || prior == Prior::kRefused || prior == Prior::kAnswered429) {
    return std::nullopt;
  }
  auto& admitted = state->admitted;
  while (!admitted.empty() && admitted.front() + window_ <= now) admitted.pop_front();
  if (prior == Prior::kNone && admitted.size() >= state->per_window) {
    ++state->rejected_429;
    // The oldest admitted request leaves the window at front() + window_.
    const auto wait = admitted[admitted.size() - state->per_window] + window_ - now;
    return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
  }
  admitted.push_back(now);
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
      std::lock_guard key_lock(s.mu);
      if (!first) out.push_back(',');
      first = false;
      appendJsonString(out, key);
      out.append(":{\"count\":");
      appendUnsigned(out, s.count);
      out.append(",\"rejected_429\":");
      appendUnsigned(out, s.rejected_429);
      out.append(",\"per_window\":");
      if (s.per_window == 0) {
        out.append("null");
      } else {
        appendUnsigned(out, s.per_window);
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
    std::lock_guard key_lock(state->mu);
    state->count = 0;
    state->rejected_429 = 0;
  }
  other_count_.store(0, std::memory_order_relaxed);
}

}  // namespace fakeapi
