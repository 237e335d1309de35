// SPDX-License-Identifier: Apache-2.0
// The only file that includes <systemd/sd-daemon.h>.
#include "app/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace jobwatch::app {
namespace {

constexpr std::array<std::string_view, 7> kLifecycleOrder = {
    "unknown", "queued", "processing", "completed", "failed", "not_found", "timed_out"};

size_t lifecycleRank(const std::string& status) {
  const auto* it = std::find(kLifecycleOrder.begin(), kLifecycleOrder.end(), status);
  return static_cast<size_t>(it - kLifecycleOrder.begin());  // others: after all of these
}

class SilentNotifier final : public ServiceNotifier {
 public:
  bool enabled() const override { return false; }
  void ready() override {}
  void reloading() override {}
  void stopping() override {}
  void watchdog() override {}
  void status(std::string_view) override {}
  std::optional<std::chrono::microseconds> watchdogInterval() const override {
    return std::nullopt;
  }
};

class SystemdNotifier final : public ServiceNotifier {
 public:
  explicit SystemdNotifier(std::optional<std::chrono::microseconds> watchdog_interval)
      : watchdog_interval_(watchdog_interval) {}

  bool enabled() const override { return true; }
  // A failed notification is not worth failing the daemon over: systemd
  // notices a missing READY=1 or WATCHDOG=1 on its own.
  void ready() override { send("READY=1"); }
  void reloading() override {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const std::uint64_t usec = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
                               static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
  }
  void stopping() override { send("STOPPING=1"); }
  void watchdog() override { send("WATCHDOG=1"); }
  void status(std::string_view text) override {
    std::string message = "STATUS=";
    // One line: a newline would start another (unknown) assignment.
    for (char c : text) message += (c == '\n' || c == '\r') ? ' ' : c;
    send(message);
  }
  std::optional<std::chrono::microseconds> watchdogInterval() const override {
    return watchdog_interval_;
  }

 private:
  static void send(const std::string& message) { (void)::sd_notify(0, message.c_str()); }

  std::optional<std::chrono::microseconds> watchdog_interval_;
};

}  // namespace

std::unique_ptr<ServiceNotifier> makeServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket == nullptr || *socket == '\0') return makeSilentNotifier();
  std::optional<std::chrono::microseconds> interval;
  std::uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is us).
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    interval = std::chrono::microseconds(std::max<std::uint64_t>(usec / 2, 1000));
  }
  return std::make_unique<SystemdNotifier>(interval);
}

std::unique_ptr<ServiceNotifier> makeSilentNotifier() { return std::make_unique<SilentNotifier>(); }

std::string formatServiceStatus(const std::map<std::string, size_t>& counts, size_t jobs,
                                size_t hooks_pending) {
  // Words the API made up are untrusted and unbounded: the first few by
  // name, the rest summed as "other", so the line stays short.
  constexpr size_t kMaxOtherWords = 3;
  std::vector<std::pair<std::string, size_t>> present;
  size_t other_words = 0;
  size_t other = 0;
  for (const auto& [status, count] : counts) {
    if (count == 0) continue;
    if (lifecycleRank(status) < kLifecycleOrder.size() || ++other_words <= kMaxOtherWords) {
      present.emplace_back(status, count);
    } else {
      other += count;
    }
  }
  if (other > 0) present.emplace_back("other", other);
  // Stable: the map already orders the unranked words alphabetically.
  std::stable_sort(present.begin(), present.end(), [](const auto& a, const auto& b) {
    return lifecycleRank(a.first) < lifecycleRank(b.first);
  });
  std::string text = "watching " + std::to_string(jobs) + (jobs == 1 ? " job" : " jobs");
  const char* separator = ": ";
  for (const auto& [status, count] : present) {
    text += separator + std::to_string(count) + " " + status;
    separator = ", ";
  }
  text += "; hooks pending " + std::to_string(hooks_pending);
  return text;
}

}  // namespace jobwatch::app
