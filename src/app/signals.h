// Signal handling for the service: SIGTERM/SIGINT/SIGHUP are blocked in
// every thread (call blockServiceSignals() before starting any thread) and
// read synchronously in one place with waitForSignal(). SIGPIPE is ignored
// process-wide (sockets and hook pipes report EPIPE instead).
//
// Thread-safety: blockServiceSignals() once, from main, before threads.
#pragma once

#include <chrono>

namespace jobwatch::app {

enum class SignalRequest { kNone, kStop, kReload };

void blockServiceSignals();
// Waits up to `timeout` for a blocked service signal.
SignalRequest waitForSignal(std::chrono::milliseconds timeout);

}  // namespace jobwatch::app
