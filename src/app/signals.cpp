// SPDX-License-Identifier: Apache-2.0
#include "app/signals.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <initializer_list>

namespace jobwatch::app {
namespace {

sigset_t serviceSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, sig);
  return set;
}

}  // namespace

void blockServiceSignals() {
  sigset_t set = serviceSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  for (int sig : {SIGPIPE, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT, SIGTSTP,
                  SIGTTIN, SIGTTOU}) {
    signal(sig, SIG_IGN);
  }
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; ++sig) signal(sig, SIG_IGN);
}

int openSignalFd() {
  sigset_t set = serviceSignals();
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

SignalRequests readSignals(int signal_fd) {
  SignalRequests requests;
  signalfd_siginfo info{};
  while (read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    switch (static_cast<int>(info.ssi_signo)) {
      case SIGTERM:
      case SIGINT:
        requests.stop = true;
        break;
      case SIGHUP:
        requests.reload = true;
        break;
      case SIGUSR1:
        requests.report = true;
        break;
      default:
        break;
    }
  }
  return requests;
}

}  // namespace jobwatch::app
