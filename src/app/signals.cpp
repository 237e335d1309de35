#include "app/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

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

SignalRequest waitForSignal(std::chrono::milliseconds timeout) {
  sigset_t set = serviceSignals();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  int sig = sigtimedwait(&set, nullptr, &ts);
  if (sig == SIGTERM || sig == SIGINT) return SignalRequest::kStop;
  if (sig == SIGHUP) return SignalRequest::kReload;
  return SignalRequest::kNone;  // timeout or EINTR
}

}  // namespace jobwatch::app
