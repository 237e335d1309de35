// SPDX-License-Identifier: Apache-2.0
// Signal handling for the service. Every catchable signal has a decided
// meaning (README: Signals):
//   SIGTERM, SIGINT  stop (read from a signalfd by the control loop)
//   SIGHUP           reload configuration and watch file (signalfd)
//   SIGUSR1          log a one-line status summary (signalfd)
//   SIGPIPE, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT,
//   SIGTSTP, SIGTTIN, SIGTTOU, SIGRTMIN..SIGRTMAX
//                    ignored: stray signals must not kill or stop a daemon
//                    (their default is to terminate or stop the process)
//   SIGCHLD, SIGURG, SIGWINCH, SIGCONT
//                    default (nothing happens)
//   SIGQUIT, SIGILL, SIGABRT, SIGFPE, SIGSEGV, SIGBUS, SIGSYS, SIGTRAP,
//   SIGXCPU, SIGXFSZ
//                    default: terminate with a core dump; these mean a
//                    crash or an operator who asks for one
// Hooks start with every signal at its default and none blocked
// (hooks/child_process).
//
// Thread-safety: blockServiceSignals() once, from main, before threads.
#pragma once

namespace jobwatch::app {

// What the signals read so far ask for.
struct SignalRequests {
  bool stop = false;
  bool reload = false;
  bool report = false;  // SIGUSR1: log a status summary
};

// Blocks the signals the control loop reads (in every thread started
// afterwards) and ignores the stray ones (see above).
void blockServiceSignals();

// A signalfd for the blocked service signals, to poll() with other inputs
// (non-blocking, close-on-exec). Owned by the caller; -1 on failure.
int openSignalFd();
// Reads every pending signal.
SignalRequests readSignals(int signal_fd);

}  // namespace jobwatch::app
