#include "app/signals.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>


namespace jobwatch::app {
namespace {

sigset_t serviceSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

void blockServiceSignals() {
  sigset_t set = serviceSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int openSignalFd() {
  sigset_t set = serviceSignals();
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

SignalRequest readSignals(int signal_fd) {
  SignalRequest request = SignalRequest::kNone;
  signalfd_siginfo info{};
  while (read(signal_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    const auto sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGTERM || sig == SIGINT) {
      request = SignalRequest::kStop;
    } else if (sig == SIGHUP && request == SignalRequest::kNone) {
      request = SignalRequest::kReload;
    }
  }
  return request;
}

}  // namespace jobwatch::app
