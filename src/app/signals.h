// Signal handling for the service: SIGTERM/SIGINT/SIGHUP are blocked in
// every thread (call blockServiceSignals() before starting any thread) and
// read in one place, the service's control loop, through a signalfd. SIGPIPE is ignored
// process-wide (sockets and hook pipes report EPIPE instead).
//
// Thread-safety: blockServiceSignals() once, from main, before threads.
#pragma once

#include <chrono>

namespace jobwatch::app {

enum class SignalRequest { kNone, kStop, kReload };

void blockServiceSignals();

// A signalfd for the blocked service signals, to poll() with other inputs
// (non-blocking, close-on-exec). Owned by the caller; -1 on failure.
int openSignalFd();
// Reads every pending signal; the strongest request wins (stop > reload).
SignalRequest readSignals(int signal_fd);

}  // namespace jobwatch::app
