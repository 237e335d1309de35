// SPDX-License-Identifier: Apache-2.0
// ServiceNotifier: tells the service manager (systemd, Type=notify) what the
// daemon is doing: ready, reloading, stopping, alive (watchdog), and a
// one-line status. The systemd implementation speaks the sd_notify protocol
// to $NOTIFY_SOCKET; without NOTIFY_SOCKET every call does nothing.
//
// Who calls what (SPEC "Signals and systemd"): the control loop sends
// ready() at the end of start-up (metrics bound, watch list loaded),
// reloading()/ready() around a SIGHUP reload, stopping() when shutdown
// begins; the scheduler thread sends watchdog() and status() from its own
// loop, so a stuck scheduler stops the watchdog pings.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace jobwatch::app {

class ServiceNotifier {
 public:
  virtual ~ServiceNotifier() = default;

  // False when nobody listens (NOTIFY_SOCKET unset): callers may skip
  // building status text.
  virtual bool enabled() const = 0;
  virtual void ready() = 0;
  // RELOADING=1 with MONOTONIC_USEC= (systemd 253+ wants it; 252 ignores it).
  virtual void reloading() = 0;
  virtual void stopping() = 0;
  virtual void watchdog() = 0;
  virtual void status(std::string_view text) = 0;
  // How often watchdog() must be called: half of WATCHDOG_USEC, or nullopt
  // when the watchdog is off.
  virtual std::optional<std::chrono::microseconds> watchdogInterval() const = 0;
};

// The sd_notify notifier when $NOTIFY_SOCKET is set, else one that does
// nothing. Reads the environment once, here.
std::unique_ptr<ServiceNotifier> makeServiceNotifier();

// A notifier that does nothing (tests, --once).
std::unique_ptr<ServiceNotifier> makeSilentNotifier();

// The STATUS= line: "watching 120 jobs: 80 processing, 30 completed,
// 10 failed; hooks pending 2". Statuses with a count appear in lifecycle
// order (unknown, queued, processing, completed, failed, not_found,
// timed_out), then any other word alphabetically: at most three of those,
// the rest summed as "other". Pure.
std::string formatServiceStatus(const std::map<std::string, size_t>& counts, size_t jobs,
                                size_t hooks_pending);

}  // namespace jobwatch::app
