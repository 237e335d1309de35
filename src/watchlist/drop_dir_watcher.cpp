// SPDX-License-Identifier: Apache-2.0
#include "watchlist/drop_dir_watcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string_view>
#include <utility>

#include "watchlist/drop_archive.h"
#include "watchlist/posix_io.h"

namespace jobwatch::watchlist {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// A file created while we watch but never opened (hard link, O_TMPFILE +
// linkat) is complete. open(O_CREAT) queues IN_CREATE and IN_OPEN within one
// system call, so a short grace is enough to tell the two apart even when a
// read of the queue falls between them.
constexpr auto kCreatedGrace = 100ms;
// An empty created file may be one whose creator was preempted between the
// two events; nothing is lost by giving it longer. The same for a file with
// another hard link: a link()-then-unlink() writer may not have removed its
// own name yet, and a file with two names is refused when taken.
constexpr auto kLongCreatedGrace = 5s;
// A vanished directory is retried at most this often, so a caller that
// calls in a loop does not spin on mkdir.
constexpr auto kRetryInterval = 1s;
// Besides kMaxDropFilesPerTake, one call stops after reading this much.
// Bytes read (and so parsed) by one takeReady() call at most: it runs on
// the control thread, which reads signals between calls. A single file may
// still be up to kMaxDropFileBytes.
constexpr std::size_t kMaxBytesPerTake = std::size_t{4} << 20;
constexpr std::size_t kMaxNotices = 100;

constexpr std::uint32_t kDropDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_OPEN |
                                       IN_CLOSE_NOWRITE | IN_DELETE | IN_MOVED_FROM |
                                       IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr std::uint32_t kSelfGone = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;

bool isIgnoredName(std::string_view name) {
  constexpr std::string_view kTmp = ".tmp";
  return name.empty() || name.front() == '.' ||
         (name.size() >= kTmp.size() && name.substr(name.size() - kTmp.size()) == kTmp);
}

// What we compare to tell whether a file is still being changed.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  nlink_t links = 0;
  bool operator==(const FileIdentity&) const = default;
};

std::int64_t nanos(const timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

FileIdentity identityOf(const struct stat& st) {
  return FileIdentity{st.st_dev,         st.st_ino,         st.st_size,
                      nanos(st.st_mtim), nanos(st.st_ctim), st.st_nlink};
}

}  // namespace

// --- DropDirWatcher ------------------------------------------------------------

struct DropDirWatcher::Impl {
  // Why a file is waiting instead of being taken now.
  enum class Origin {
    kScan,     // found by a scan: taken once quiet for `settle`
    kCreated,  // saw it created: taken at its writer's close, or if never opened
  };
  struct Pending {
    Origin origin = Origin::kScan;
    FileIdentity identity;
    SteadyTime since;  // identity unchanged since
    int opens = 0;     // kCreated: opens minus closes seen
  };

  Impl(fs::path d, std::chrono::milliseconds s, const Clock& c)
      : clock(&c), dir(std::move(d)), settle(s), archive(dir, c) {}

  const Clock* clock;
  fs::path dir;
  std::chrono::milliseconds settle;
  Fd inotify;
  int wd = -1;
  Fd dir_fd;  // the drop directory; archive uses it too
  DropArchive archive;
  bool have_owner = false;  // the directory's mode and owner, to recreate it alike
  mode_t dir_mode = 0750;
  uid_t dir_uid = 0;
  gid_t dir_gid = 0;

  bool lost = false;  // the directory (or our watch on it) is gone
  SteadyTime retry_at{};
  bool need_rescan = true;
  bool events_lost = false;  // overflow: open counts of created files unknown
  bool more = false;
  std::set<std::string> ready;  // complete: handle in name order
  // Accepted, returned, not yet finish()ed: name -> the file's identity.
  std::map<std::string, std::pair<dev_t, ino_t>> awaiting;
  std::map<std::string, Pending> pending;  // not yet complete
  std::deque<std::string> notices;
  std::size_t dropped_notices = 0;

  void notice(std::string text) {
    if (notices.size() >= kMaxNotices) {
      notices.pop_front();
      ++dropped_notices;
    }
    notices.push_back(std::move(text));
  }

  std::string where() const { return dir.string(); }

  // (Re)creates and opens the directory and its subfolders, and watches it.
  Status establish() {
    bool created = false;
    if (::mkdir(dir.c_str(), have_owner ? 0700 : 0750) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return Error{"cannot create drop directory " + where() + ": " + errnoText(errno)};
    }
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.valid()) {
      return Error{"cannot open drop directory " + where() + ": " + errnoText(errno)};
    }
    struct stat st {};
    if (::fstat(d.get(), &st) != 0) {
      return Error{"cannot stat drop directory " + where() + ": " + errnoText(errno)};
    }
    if (created && have_owner) {
      // Recreated: give it back the mode and owner producers relied on.
      // Changing the owner needs privileges; without them it stays ours.
      if (::fchmod(d.get(), dir_mode) != 0) {
        notice("cannot restore mode of drop directory " + where() + ": " + errnoText(errno));
      }
      if ((st.st_uid != dir_uid || st.st_gid != dir_gid) &&
          ::fchown(d.get(), dir_uid, dir_gid) != 0 && errno != EPERM) {
        notice("cannot restore owner of drop directory " + where() + ": " + errnoText(errno));
      }
    } else if (!have_owner) {
      have_owner = true;
      dir_mode = st.st_mode & 07777;
      dir_uid = st.st_uid;
      dir_gid = st.st_gid;
    }
    if (auto s = archive.open(d.get()); !s.ok()) return s;
    int w = ::inotify_add_watch(inotify.get(), dir.c_str(), kDropDirMask);
    if (w < 0) {
      const int err = errno;
      archive.close();
      std::string hint = err == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "";
      return Error{"cannot watch drop directory " + where() + ": " + errnoText(err) + hint};
    }
    wd = w;
    dir_fd = std::move(d);
    lost = false;
    need_rescan = true;
    return Ok{};
  }

  void markLost(std::uint32_t mask) {
    if (lost) return;
    if (wd >= 0 && (mask & IN_IGNORED) == 0) ::inotify_rm_watch(inotify.get(), wd);
    wd = -1;
    archive.close();
    dir_fd.reset();
    lost = true;
    retry_at = clock->now();
    // Whatever was pending lived in the old directory.
    ready.clear();
    pending.clear();
    const char* what = (mask & IN_MOVE_SELF) != 0     ? "was moved away"
                       : (mask & IN_DELETE_SELF) != 0 ? "was removed"
                       : (mask & IN_UNMOUNT) != 0     ? "was unmounted"
                                                      : "is no longer watched";
    notice("drop directory " + where() + " " + what + "; recreating it");
  }

  void onEvent(const inotify_event& ev, std::string_view name) {
    if ((ev.mask & IN_Q_OVERFLOW) != 0) {
      if (!events_lost) notice("inotify queue overflowed for " + where() + "; rescanning it");
      need_rescan = true;
      events_lost = true;
      return;
    }
    if (wd < 0 || ev.wd != wd) return;  // an old watch's leftovers
    if ((ev.mask & kSelfGone) != 0) {
      markLost(ev.mask);
      return;
    }
    if (name.empty() || isIgnoredName(name)) return;
    std::string key(name);
    const std::uint32_t m = ev.mask;
    if ((m & (IN_CLOSE_WRITE | IN_MOVED_TO)) != 0) {
      pending.erase(key);
      ready.insert(std::move(key));
    } else if ((m & IN_CREATE) != 0) {
      onCreate(std::move(key), (m & IN_ISDIR) != 0);
    } else if ((m & (IN_DELETE | IN_MOVED_FROM)) != 0) {
      ready.erase(key);
      pending.erase(key);
    } else if ((m & (IN_OPEN | IN_CLOSE_NOWRITE)) != 0) {
      auto it = pending.find(key);
      if (it == pending.end() || it->second.origin != Origin::kCreated) return;
      if ((m & IN_OPEN) != 0) {
        ++it->second.opens;
      } else if (it->second.opens > 0) {
        --it->second.opens;
      }
      it->second.since = clock->now();
    }
  }

  void onCreate(std::string name, bool is_dir) {
    // A new inode under this name: whatever we knew about the name is stale.
    ready.erase(name);
    pending.erase(name);
    if (is_dir) {
      ready.insert(std::move(name));  // rejected; mkdir is complete at once
      return;
    }
    struct stat st {};
    if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;  // gone
    if (!S_ISREG(st.st_mode)) {
      ready.insert(std::move(name));  // symlink, FIFO, socket, device: complete at once
      return;
    }
    pending[std::move(name)] = Pending{Origin::kCreated, identityOf(st), clock->now(), /*opens=*/0};
  }

  // While we hold descriptors on the directory the kernel delays
  // IN_DELETE_SELF until we let go, so a removal is noticed here: the
  // directory we hold has no links left, or the path no longer leads to it.
  void checkStillThere() {
    struct stat held {};
    struct stat named {};
    if (::fstat(dir_fd.get(), &held) != 0 || held.st_nlink == 0) {
      markLost(IN_DELETE_SELF);
    } else if (::stat(dir.c_str(), &named) != 0 || named.st_dev != held.st_dev ||
               named.st_ino != held.st_ino) {
      markLost(IN_MOVE_SELF);
    }
  }

  void drain() {
    int err = drainInotify(
        inotify.get(), [&](const inotify_event& ev, std::string_view name) { onEvent(ev, name); });
    if (err != 0) {
      notice("cannot read inotify events for " + where() + ": " + errnoText(err) + "; rescanning");
      need_rescan = true;
      events_lost = true;
    }
  }

  void rescan() {
    need_rescan = false;
    if (events_lost) {
      // Open and close events may be lost: judge created files by quiet time.
      for (auto& [name, p] : pending) p.origin = Origin::kScan;
      events_lost = false;
    }
    Fd listing(::openat(dir_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = listing.valid() ? ::fdopendir(listing.get()) : nullptr;
    if (d == nullptr) {
      notice("cannot list drop directory " + where() + ": " + errnoText(errno));
      return;
    }
    listing.release();  // fdopendir owns it now; closedir closes it
    const auto now = clock->now();
    for (;;) {
      errno = 0;
      dirent* e = ::readdir(d);
      if (e == nullptr) {
        if (errno != 0) notice("cannot list drop directory " + where() + ": " + errnoText(errno));
        break;
      }
      std::string name = e->d_name;
      if (isIgnoredName(name) || ready.count(name) != 0 || pending.count(name) != 0) continue;
      struct stat st {};
      if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (!S_ISREG(st.st_mode)) {
        ready.insert(std::move(name));
        continue;
      }
      pending[std::move(name)] = Pending{Origin::kScan, identityOf(st), now, 0};
    }
    ::closedir(d);
  }

  // How long `p` still has to wait; nullopt when only an event can end it.
  std::optional<SteadyTime::duration> remaining(const Pending& p, SteadyTime now,
                                                WallTime wall_now) const {
    if (p.origin == Origin::kCreated) {
      if (p.opens > 0) return std::nullopt;
      const SteadyTime::duration grace = p.identity.size == 0 || p.identity.links > 1
                                             ? SteadyTime::duration(kLongCreatedGrace)
                                             : kCreatedGrace;
      return std::max<SteadyTime::duration>(SteadyTime::duration::zero(), grace - (now - p.since));
    }
    const auto quiet = now - p.since;
    const auto age = std::chrono::duration_cast<SteadyTime::duration>(
        wall_now.time_since_epoch() - std::chrono::nanoseconds(p.identity.mtime_ns));
    const auto waited = std::max(quiet, age);
    return std::max<SteadyTime::duration>(SteadyTime::duration::zero(), settle - waited);
  }

  void checkPending() {
    const auto now = clock->now();
    const auto wall_now = clock->wallNow();
    for (auto it = pending.begin(); it != pending.end();) {
      const std::string& name = it->first;
      Pending& p = it->second;
      struct stat st {};
      if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        it = errno == ENOENT ? pending.erase(it) : std::next(it);
        continue;
      }
      bool take = !S_ISREG(st.st_mode);
      if (!take) {
        FileIdentity current = identityOf(st);
        if (current != p.identity) {
          p.identity = current;
          p.since = now;
          if (p.origin == Origin::kScan && settle.count() > 0) {
            ++it;
            continue;
          }
        }
        auto left = remaining(p, now, wall_now);
        take = left && *left == SteadyTime::duration::zero();
      }
      if (take) {
        ready.insert(name);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }

  DropFileTaken reject(DropFileTaken t, const std::string& name, std::string reason) {
    t.rejected = true;
    t.reason = std::move(reason);
    t.entries.clear();
    std::string reason_problem;
    auto moved = archive.keepRejected(name, t.reason, reason_problem);
    if (!moved.ok()) {
      notice(moved.error().message);
      return t;
    }
    t.moved_to = moved.value();
    if (!reason_problem.empty()) notice(std::move(reason_problem));
    return t;
  }

  std::optional<DropFileTaken> processOne(const std::string& name, std::size_t& bytes_read) {
    DropFileTaken t;
    t.file = dir / name;
    DropFileRead read = readDropFile(dir_fd.get(), name, dir / printableName(name));
    bytes_read += read.bytes_read;
    switch (read.outcome) {
      case DropFileRead::Outcome::kGone:
        if (!read.notice.empty()) notice(std::move(read.notice));
        return std::nullopt;
      case DropFileRead::Outcome::kRejected:
        return reject(std::move(t), name, std::move(read.reason));
      case DropFileRead::Outcome::kAccepted:
        break;
    }
    t.entries = std::move(read.entries);
    awaiting[name] = {read.dev, read.ino};
    return t;
  }

  Result<fs::path> finish(const DropFileTaken& t) {
    const std::string name = t.file.filename().string();
    auto it = awaiting.find(name);
    if (it == awaiting.end()) {
      return Error{"drop file " + (dir / printableName(name)).string() + " is not awaiting finish"};
    }
    const auto identity = it->second;
    awaiting.erase(it);
    struct stat st {};
    const bool present = ::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (!present || st.st_dev != identity.first || st.st_ino != identity.second) {
      // Replaced (or removed) since it was read: a new file under that name
      // is taken on its own merits.
      if (present) ready.insert(name);
      return Error{"drop file " + (dir / printableName(name)).string() +
                   " changed before it could be moved; taking it again"};
    }
    return archive.keepProcessed(name);
  }

  std::vector<DropFileTaken> takeReady() {
    more = false;
    drain();
    if (!lost) checkStillThere();
    if (lost) {
      const auto now = clock->now();
      if (now < retry_at) return {};
      auto s = establish();
      if (!s.ok()) {
        retry_at = now + kRetryInterval;
        notice(s.error().message + "; retrying");
        return {};
      }
      notice("drop directory " + where() + " is back; rescanning it");
    }
    if (need_rescan) {
      rescan();
      // A file created while we listed was found by the scan, and its
      // IN_CREATE/IN_OPEN are queued by now: let them say it is being written.
      drain();
      if (lost) return {};
    }
    checkPending();
    std::vector<DropFileTaken> out;
    std::size_t handled = 0;
    std::size_t bytes_read = 0;
    while (!ready.empty() && handled < kMaxDropFilesPerTake && bytes_read < kMaxBytesPerTake) {
      std::string name = std::move(ready.extract(ready.begin()).value());
      if (awaiting.count(name) > 0) continue;  // returned already, waiting for finish()
      ++handled;
      if (auto t = processOne(name, bytes_read)) out.push_back(std::move(*t));
    }
    more = !ready.empty();
    return out;
  }

  std::optional<std::chrono::milliseconds> nextCheckIn() const {
    using std::chrono::milliseconds;
    const auto now = clock->now();
    if (lost) {
      return std::chrono::ceil<milliseconds>(
          std::max<SteadyTime::duration>(SteadyTime::duration::zero(), retry_at - now));
    }
    if (more || need_rescan) return milliseconds::zero();
    std::optional<SteadyTime::duration> best;
    auto consider = [&](SteadyTime::duration d) {
      if (!best || d < *best) best = d;
    };
    const auto wall_now = clock->wallNow();
    for (const auto& [name, p] : pending) {
      if (auto left = remaining(p, now, wall_now)) consider(*left);
    }
    if (!best) return std::nullopt;
    // Round up: waking a little late is fine, waking early means a busy loop.
    return std::chrono::ceil<milliseconds>(*best);
  }
};

DropDirWatcher::DropDirWatcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DropDirWatcher::~DropDirWatcher() = default;

Result<std::unique_ptr<DropDirWatcher>> DropDirWatcher::open(const std::filesystem::path& dir,
                                                             std::chrono::milliseconds settle) {
  return open(dir, settle, systemClock());
}

Result<std::unique_ptr<DropDirWatcher>> DropDirWatcher::open(const std::filesystem::path& dir,
                                                             std::chrono::milliseconds settle,
                                                             const Clock& clock) {
  auto impl =
      std::make_unique<Impl>(dir, std::max(settle, std::chrono::milliseconds::zero()), clock);
  impl->inotify = Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!impl->inotify.valid()) {
    return Error{"cannot watch drop directory " + dir.string() +
                 ": inotify_init1: " + errnoText(errno)};
  }
  if (auto s = impl->establish(); !s.ok()) return s.error();
  return std::unique_ptr<DropDirWatcher>(new DropDirWatcher(std::move(impl)));
}

int DropDirWatcher::fd() const { return impl_->inotify.get(); }
std::vector<DropFileTaken> DropDirWatcher::takeReady() { return impl_->takeReady(); }
Result<std::filesystem::path> DropDirWatcher::finish(const DropFileTaken& taken) {
  return impl_->finish(taken);
}
bool DropDirWatcher::morePending() const { return impl_->more; }
std::optional<std::chrono::milliseconds> DropDirWatcher::nextCheckIn() const {
  return impl_->nextCheckIn();
}

std::vector<std::string> DropDirWatcher::takeNotices() {
  std::vector<std::string> out;
  if (impl_->dropped_notices > 0) {
    out.push_back(std::to_string(impl_->dropped_notices) + " older drop directory notices dropped");
    impl_->dropped_notices = 0;
  }
  for (auto& n : impl_->notices) out.push_back(std::move(n));
  impl_->notices.clear();
  return out;
}

}  // namespace jobwatch::watchlist
