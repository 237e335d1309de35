// SPDX-License-Identifier: Apache-2.0
#include "watchlist/watch_file_monitor.h"

#include <fcntl.h>
#include <sys/inotify.h>

#include <string>

#include "watchlist/posix_io.h"

namespace jobwatch::watchlist {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A vanished directory is re-watched at most this often, so a caller that
// calls in a loop does not spin on inotify_add_watch.
constexpr auto kRetryInterval = 1s;
constexpr std::uint32_t kWatchFileMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                         IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr std::uint32_t kSelfGone = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;

}  // namespace

struct WatchFileMonitor::Impl {
  const Clock* clock = nullptr;
  fs::path file;
  fs::path dir;
  std::string name;
  Fd inotify;
  int wd = -1;
  SteadyTime retry_at{};

  Status watch() {
    int w = ::inotify_add_watch(inotify.get(), dir.c_str(), kWatchFileMask);
    if (w < 0) {
      return Error{"cannot watch directory " + dir.string() + " of watch file " + file.string() +
                   ": " + errnoText(errno)};
    }
    wd = w;
    return Ok{};
  }

  // True when `ev` concerns the watch file; forgets a vanished directory.
  bool onEvent(const inotify_event& ev, std::string_view n) {
    if ((ev.mask & IN_Q_OVERFLOW) != 0) return true;
    if (wd < 0 || ev.wd != wd) return false;
    if ((ev.mask & kSelfGone) != 0) {
      // The directory went away, and the file with it.
      if ((ev.mask & IN_IGNORED) == 0) ::inotify_rm_watch(inotify.get(), wd);
      wd = -1;
      retry_at = clock->now() + kRetryInterval;
      return true;
    }
    return n == name;
  }

  bool changed() {
    bool changed = false;
    int err = drainInotify(inotify.get(), [&](const inotify_event& ev, std::string_view n) {
      if (onEvent(ev, n)) changed = true;
    });
    if (err != 0) changed = true;  // cannot tell: say so, the caller re-reads
    if (wd < 0 && clock->now() >= retry_at) {
      if (watch().ok()) {
        changed = true;  // it may have come back with the file
      } else {
        retry_at = clock->now() + kRetryInterval;
      }
    }
    return changed;
  }
};

WatchFileMonitor::WatchFileMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WatchFileMonitor::~WatchFileMonitor() = default;

Result<std::unique_ptr<WatchFileMonitor>> WatchFileMonitor::open(
    const std::filesystem::path& file) {
  return open(file, systemClock());
}

Result<std::unique_ptr<WatchFileMonitor>> WatchFileMonitor::open(const std::filesystem::path& file,
                                                                 const Clock& clock) {
  auto impl = std::make_unique<Impl>();
  impl->clock = &clock;
  impl->file = file;
  impl->name = file.filename().string();
  if (impl->name.empty() || impl->name == "." || impl->name == "..") {
    return Error{"cannot watch " + file.string() + ": not a file name"};
  }
  impl->dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
  impl->inotify = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!impl->inotify.valid()) {
    return Error{"cannot watch watch file " + file.string() +
                 ": inotify_init1: " + errnoText(errno)};
  }
  if (auto s = impl->watch(); !s.ok()) return s.error();
  return std::unique_ptr<WatchFileMonitor>(new WatchFileMonitor(std::move(impl)));
}

int WatchFileMonitor::fd() const { return impl_->inotify.get(); }
bool WatchFileMonitor::changed() { return impl_->changed(); }

}  // namespace jobwatch::watchlist
