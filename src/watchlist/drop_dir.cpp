#include "watchlist/drop_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "util/bounded_file.h"
#include "util/job_id.h"

namespace jobwatch::watchlist {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

// A file created while we watch but never opened (hard link, O_TMPFILE +
// linkat) is complete. open(O_CREAT) queues IN_CREATE and IN_OPEN within one
// system call, so a short grace is enough to tell the two apart even when a
// read of the queue falls between them.
constexpr auto kCreatedGrace = 100ms;
// An empty created file may be one whose creator was preempted between the
// two events; nothing is lost by giving it longer.
constexpr auto kEmptyCreatedGrace = 5s;
// A vanished directory (or watch-file directory) is retried at most this
// often, so a caller that calls in a loop does not spin on mkdir.
constexpr auto kRetryInterval = 1s;
// Besides kMaxDropFilesPerTake, one call stops after reading this much.
constexpr std::size_t kMaxBytesPerTake = std::size_t{64} << 20;
constexpr std::size_t kMaxReasonLines = 50;
constexpr std::size_t kMaxNotices = 100;
constexpr int kNumericSuffixes = 20;  // name.1 ... name.20, then a timestamp
constexpr int kMaxMoveAttempts = 40;
constexpr std::size_t kNameMax = NAME_MAX;
constexpr mode_t kSubdirMode = 0750;
constexpr mode_t kDropFileMode = 0640;
constexpr const char* kProcessedDir = ".processed";
constexpr const char* kRejectedDir = ".rejected";
constexpr const char* kReasonSuffix = ".reason";

constexpr std::uint32_t kDropDirMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_OPEN |
                                       IN_CLOSE_NOWRITE | IN_DELETE | IN_MOVED_FROM |
                                       IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr std::uint32_t kWatchFileMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                         IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr std::uint32_t kSelfGone = IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED;

std::string errnoText(int err) { return std::strerror(err); }

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // close() with its error, for files whose data matters.
  int close() { return ::close(std::exchange(fd_, -1)); }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

bool isIgnoredName(std::string_view name) {
  constexpr std::string_view kTmp = ".tmp";
  return name.empty() || name.front() == '.' ||
         (name.size() >= kTmp.size() && name.substr(name.size() - kTmp.size()) == kTmp);
}

// File names are untrusted: keep control characters out of messages and
// .reason files (they could forge log lines).
std::string printableName(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

std::string describeType(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

std::string notRegularReason(mode_t mode) {
  std::string out = "not a regular file: " + describeType(mode);
  if (S_ISLNK(mode)) out += " (moved as it is; its target was neither followed nor read)";
  return out;
}

std::string utcStamp(WallClock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d%02d%02dT%02d%02d%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string randomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, GRND_NONBLOCK);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < bytes) {
    // Uniqueness, not secrecy, is needed here.
    std::random_device rd;
    for (std::size_t i = got; i < bytes; ++i) raw[i] = static_cast<char>(rd() & 0xff);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : raw) {
    auto u = static_cast<unsigned char>(c);
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  }
  return out;
}

// Cuts `name` so that name + suffix fits NAME_MAX.
std::string withSuffix(const std::string& name, const std::string& suffix, std::size_t reserve) {
  const std::size_t room = kNameMax - std::min(kNameMax, suffix.size() + reserve);
  return (name.size() > room ? name.substr(0, room) : name) + suffix;
}

// What we compare to tell whether a file is still being changed.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

std::int64_t nanos(const timespec& ts) {
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

FileIdentity identityOf(const struct stat& st) {
  return FileIdentity{st.st_dev, st.st_ino, st.st_size, nanos(st.st_mtim), nanos(st.st_ctim)};
}

// renameat2(RENAME_NOREPLACE), with a check-then-rename fallback for file
// systems without it (we are the only writer of .processed/.rejected).
int renameNoReplace(int from_dir, const std::string& from, int to_dir, const std::string& to) {
  if (::renameat2(from_dir, from.c_str(), to_dir, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  struct stat st {};
  if (::fstatat(to_dir, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    errno = EEXIST;
    return -1;
  }
  return ::renameat(from_dir, from.c_str(), to_dir, to.c_str());
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string formatIssues(const std::vector<WatchIssue>& issues) {
  std::string out;
  const std::size_t shown = std::min(issues.size(), kMaxReasonLines);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) out += '\n';
    out += issues[i].toString();
  }
  if (issues.size() > shown) {
    out += "\n... and " + std::to_string(issues.size() - shown) + " more problems";
  }
  return out;
}

// Where in `text` the first NUL byte is, as a 1-based line; 0 if none.
int lineOfNul(const std::string& text) {
  auto pos = text.find('\0');
  if (pos == std::string::npos) return 0;
  return 1 + static_cast<int>(
                 std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}

// The inotify events in one read() buffer.
template <typename F>
void forEachEvent(const char* buf, std::size_t len, F&& f) {
  std::size_t off = 0;
  while (off + sizeof(inotify_event) <= len) {
    inotify_event ev{};
    std::memcpy(&ev, buf + off, sizeof ev);
    std::string_view name;
    if (ev.len > 0 && off + sizeof ev + ev.len <= len) {
      const char* p = buf + off + sizeof ev;
      name = std::string_view(p, ::strnlen(p, ev.len));
    }
    f(ev, name);
    off += sizeof ev + ev.len;
  }
}

// Drains a non-blocking inotify descriptor. Returns errno on a hard error.
template <typename F>
int drainInotify(int fd, F&& f) {
  alignas(inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return errno;
    }
    if (n == 0) return 0;
    forEachEvent(buf, static_cast<std::size_t>(n), f);
  }
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
    SteadyClock::time_point since;  // identity unchanged since
    int opens = 0;                  // kCreated: opens minus closes seen
  };

  fs::path dir;
  std::chrono::milliseconds settle{};
  Fd inotify;
  int wd = -1;
  Fd dir_fd;
  Fd processed_fd;
  Fd rejected_fd;
  bool have_owner = false;  // the directory's mode and owner, to recreate it alike
  mode_t dir_mode = 0750;
  uid_t dir_uid = 0;
  gid_t dir_gid = 0;

  bool lost = false;  // the directory (or our watch on it) is gone
  SteadyClock::time_point retry_at{};
  bool need_rescan = true;
  bool events_lost = false;  // overflow: open counts of created files unknown
  bool more = false;
  std::set<std::string> ready;             // complete: handle in name order
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

  std::string where(const char* sub = nullptr) const {
    return sub == nullptr ? dir.string() : (dir / sub).string();
  }

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
    Fd processed;
    Fd rejected;
    if (auto s = openSubdir(d.get(), kProcessedDir, processed); !s.ok()) return s;
    if (auto s = openSubdir(d.get(), kRejectedDir, rejected); !s.ok()) return s;
    int w = ::inotify_add_watch(inotify.get(), dir.c_str(), kDropDirMask);
    if (w < 0) {
      std::string hint = errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "";
      return Error{"cannot watch drop directory " + where() + ": " + errnoText(errno) + hint};
    }
    wd = w;
    dir_fd = std::move(d);
    processed_fd = std::move(processed);
    rejected_fd = std::move(rejected);
    lost = false;
    need_rescan = true;
    return Ok{};
  }

  Status openSubdir(int parent, const char* name, Fd& out) const {
    if (::mkdirat(parent, name, kSubdirMode) != 0 && errno != EEXIST) {
      return Error{"cannot create " + where(name) + ": " + errnoText(errno)};
    }
    // O_NOFOLLOW: whoever can write the drop directory must not be able to
    // send our moves elsewhere by replacing .processed with a symlink.
    Fd fd(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      const int err = errno;
      std::string hint = (err == ELOOP || err == ENOTDIR) ? " (it must be a directory)" : "";
      return Error{"cannot open " + where(name) + ": " + errnoText(err) + hint};
    }
    out = std::move(fd);
    return Ok{};
  }

  void markLost(std::uint32_t mask) {
    if (lost) return;
    if (wd >= 0 && (mask & IN_IGNORED) == 0) ::inotify_rm_watch(inotify.get(), wd);
    wd = -1;
    dir_fd.reset();
    processed_fd.reset();
    rejected_fd.reset();
    lost = true;
    retry_at = SteadyClock::now();
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
      it->second.since = SteadyClock::now();
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
    pending[std::move(name)] =
        Pending{Origin::kCreated, identityOf(st), SteadyClock::now(), /*opens=*/0};
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
    const auto now = SteadyClock::now();
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
  std::optional<SteadyClock::duration> remaining(const Pending& p, SteadyClock::time_point now,
                                                 WallClock::time_point wall_now) const {
    if (p.origin == Origin::kCreated) {
      if (p.opens > 0) return std::nullopt;
      const SteadyClock::duration grace =
          p.identity.size == 0 ? SteadyClock::duration(kEmptyCreatedGrace) : kCreatedGrace;
      return std::max<SteadyClock::duration>(SteadyClock::duration::zero(),
                                             grace - (now - p.since));
    }
    const auto quiet = now - p.since;
    const auto age = std::chrono::duration_cast<SteadyClock::duration>(
        wall_now.time_since_epoch() - std::chrono::nanoseconds(p.identity.mtime_ns));
    const auto waited = std::max(quiet, age);
    return std::max<SteadyClock::duration>(SteadyClock::duration::zero(), settle - waited);
  }

  void checkPending() {
    const auto now = SteadyClock::now();
    const auto wall_now = WallClock::now();
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
        take = left && *left == SteadyClock::duration::zero();
      }
      if (take) {
        ready.insert(name);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }

  // Moves top-level `name` into `sub` under a free name (and, for
  // .rejected, a free "<name>.reason"). Returns the final name.
  Result<std::string> moveInto(Fd& sub, const char* sub_name, const std::string& name,
                               bool with_reason) {
    const std::size_t reserve = with_reason ? std::strlen(kReasonSuffix) : 0;
    bool reopened = false;
    for (int attempt = 0; attempt < kMaxMoveAttempts; ++attempt) {
      std::string suffix;
      if (attempt > 0 && attempt <= kNumericSuffixes) {
        suffix = "." + std::to_string(attempt);
      } else if (attempt > kNumericSuffixes) {
        suffix = "." + utcStamp(WallClock::now()) + "-" + randomHex(4);
      }
      const std::string candidate = withSuffix(name, suffix, reserve);
      struct stat st {};
      if (with_reason && ::fstatat(sub.get(), (candidate + kReasonSuffix).c_str(), &st,
                                   AT_SYMLINK_NOFOLLOW) == 0) {
        continue;
      }
      if (renameNoReplace(dir_fd.get(), name, sub.get(), candidate) == 0) return candidate;
      const int err = errno;
      if (err == EEXIST) continue;
      if (err == ENOENT && !reopened &&
          ::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        // The file is still there, so our subfolder was removed: recreate it.
        reopened = true;
        if (auto s = openSubdir(dir_fd.get(), sub_name, sub); !s.ok()) return s.error();
        --attempt;
        continue;
      }
      return Error{"cannot move " + where() + "/" + printableName(name) + " into " +
                   where(sub_name) + ": " + errnoText(err)};
    }
    return Error{"cannot move " + where() + "/" + printableName(name) + " into " + where(sub_name) +
                 ": no free name"};
  }

  void writeReason(const std::string& final_name, const std::string& reason) {
    const std::string tmp = ".reason-" + std::to_string(::getpid()) + "-" + randomHex(8) + ".tmp";
    const std::string target = final_name + kReasonSuffix;
    Fd f(::openat(rejected_fd.get(), tmp.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, kDropFileMode));
    bool ok = f.valid() && writeAll(f.get(), reason + "\n") && f.close() == 0 &&
              renameNoReplace(rejected_fd.get(), tmp, rejected_fd.get(), target) == 0;
    if (!ok) {
      const int err = errno;
      ::unlinkat(rejected_fd.get(), tmp.c_str(), 0);
      notice("cannot write " + where(kRejectedDir) + "/" + printableName(target) + ": " +
             errnoText(err));
    }
  }

  DropFileTaken reject(DropFileTaken t, const std::string& name, std::string reason) {
    t.rejected = true;
    t.reason = std::move(reason);
    t.entries.clear();
    auto moved = moveInto(rejected_fd, kRejectedDir, name, /*with_reason=*/true);
    if (!moved.ok()) {
      notice(moved.error().message);
      return t;
    }
    t.moved_to = dir / kRejectedDir / moved.value();
    writeReason(moved.value(), t.reason);
    return t;
  }

  std::optional<DropFileTaken> processOne(const std::string& name, std::size_t& bytes_read) {
    DropFileTaken t;
    t.file = dir / name;
    const fs::path shown = dir / printableName(name);
    struct stat st {};
    if (::fstatat(dir_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) {
        notice("cannot stat " + shown.string() + ": " + errnoText(errno));
      }
      return std::nullopt;  // gone: nothing to take
    }
    if (!S_ISREG(st.st_mode)) return reject(std::move(t), name, notRegularReason(st.st_mode));
    // O_NONBLOCK: should the name have become a FIFO meanwhile, do not hang.
    Fd f(::openat(dir_fd.get(), name.c_str(),
                  O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!f.valid()) {
      const int err = errno;
      if (err == ENOENT) return std::nullopt;
      if (err == ELOOP) return reject(std::move(t), name, notRegularReason(S_IFLNK));
      return reject(std::move(t), name, "cannot open: " + errnoText(err));
    }
    auto text = readBoundedFd(f.get(), kMaxDropFileBytes);
    f.reset();
    if (text.ok()) bytes_read += text->size();
    if (!text.ok()) return reject(std::move(t), name, text.error().message);
    if (text->empty()) return reject(std::move(t), name, "no jobs: the file is empty");
    if (int line = lineOfNul(*text); line > 0) {
      return reject(std::move(t), name,
                    shown.string() + ":" + std::to_string(line) +
                        ": binary content (a NUL byte); expected YAML or one job ID per line");
    }
    WatchParse parse = parseWatchContent(*text, shown);
    if (!parse.issues.empty()) return reject(std::move(t), name, formatIssues(parse.issues));
    if (parse.entries.empty()) {
      return reject(std::move(t), name, "no jobs: the file lists none");
    }
    t.entries = std::move(parse.entries);
    awaiting[name] = {st.st_dev, st.st_ino};
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
    auto moved = moveInto(processed_fd, kProcessedDir, name, /*with_reason=*/false);
    if (!moved.ok()) return moved.error();
    return dir / kProcessedDir / moved.value();
  }

  std::vector<DropFileTaken> takeReady() {
    more = false;
    drain();
    if (!lost) checkStillThere();
    if (lost) {
      const auto now = SteadyClock::now();
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
    const auto now = SteadyClock::now();
    if (lost) {
      return std::chrono::ceil<milliseconds>(
          std::max<SteadyClock::duration>(SteadyClock::duration::zero(), retry_at - now));
    }
    if (more || need_rescan) return milliseconds::zero();
    std::optional<SteadyClock::duration> best;
    auto consider = [&](SteadyClock::duration d) {
      if (!best || d < *best) best = d;
    };
    const auto wall_now = WallClock::now();
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
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->settle = std::max(settle, std::chrono::milliseconds::zero());
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

// --- writeDropFile -------------------------------------------------------------

namespace {

std::string emitDropYaml(const std::vector<WatchEntry>& entries) {
  // Every scalar the caller supplies is double-quoted: a plain `null`, `~`,
  // `yes`, `- x` or ` x` would not read back as the same string.
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "jobs" << YAML::Value << YAML::BeginSeq;
  for (const auto& e : entries) {
    if (e.labels.empty()) {
      out << YAML::DoubleQuoted << e.id;
      continue;
    }
    out << YAML::BeginMap << YAML::Key << "id" << YAML::Value << YAML::DoubleQuoted << e.id;
    out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
    for (const auto& [key, value] : e.labels) {
      out << YAML::Key << YAML::DoubleQuoted << key << YAML::Value << YAML::DoubleQuoted << value;
    }
    out << YAML::EndMap << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// `entries` as the parser will return them: duplicates merged, later
// labels winning per key.
std::vector<WatchEntry> mergedLikeParser(const std::vector<WatchEntry>& entries) {
  std::vector<WatchEntry> out;
  std::unordered_map<std::string, std::size_t> index;
  for (const auto& e : entries) {
    auto [it, fresh] = index.emplace(e.id, out.size());
    if (fresh) {
      out.push_back(e);
      continue;
    }
    for (const auto& [k, v] : e.labels) out[it->second].labels[k] = v;
  }
  return out;
}

bool sameEntries(const std::vector<WatchEntry>& a, const std::vector<WatchEntry>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.id == y.id && x.labels == y.labels;
  });
}

}  // namespace

Result<std::filesystem::path> writeDropFile(const std::filesystem::path& dir,
                                            const std::vector<WatchEntry>& entries) {
  const std::string where = dir.string();
  if (entries.empty()) return Error{"nothing to add to drop directory " + where + ": no jobs"};
  std::string text;
  try {
    text = emitDropYaml(entries);
  } catch (const YAML::Exception& e) {
    return Error{"cannot write drop file for " + where + ": " + e.what()};
  }
  // Never leave a file the watcher would reject: check it reads back.
  WatchParse back = parseWatchYaml(text, dir / "(new drop file)");
  if (!back.issues.empty()) {
    return Error{"cannot add to drop directory " + where + ": " + back.issues.front().toString()};
  }
  if (!sameEntries(back.entries, mergedLikeParser(entries))) {
    return Error{"cannot add to drop directory " + where +
                 ": the entries do not survive YAML encoding (unsupported characters?)"};
  }

  auto fail = [&](const std::string& what, int err) {
    return Error{"cannot write drop file in " + where + ": " + what + ": " + errnoText(err)};
  };
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return fail("open directory", errno);

  const std::string pid = std::to_string(::getpid());
  const std::string rnd = randomHex(8);
  // A dot name: the watcher ignores it until the rename below.
  const std::string tmp = ".add-" + pid + "-" + rnd + ".yaml.tmp";
  Fd f(::openat(dfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                kDropFileMode));
  if (!f.valid()) return fail("create " + tmp, errno);
  auto cleanup = [&] { ::unlinkat(dfd.get(), tmp.c_str(), 0); };
  // Root adding jobs for a service that runs as another user (systemd
  // DynamicUser=: the drop directory is the service's): the file becomes the
  // directory owner's, or the service could not read it.
  if (::geteuid() == 0) {
    struct stat dir_st {};
    if (::fstat(dfd.get(), &dir_st) != 0 ||
        (dir_st.st_uid != 0 && ::fchown(f.get(), dir_st.st_uid, dir_st.st_gid) != 0)) {
      const int err = errno;
      cleanup();
      return fail("give " + tmp + " to the drop directory's owner", err);
    }
  }
  // Exactly 0640 whatever the umask: the daemon may read it as another user
  // of the group.
  if (::fchmod(f.get(), kDropFileMode) != 0 || !writeAll(f.get(), text) || ::fsync(f.get()) != 0) {
    const int err = errno;
    cleanup();
    return fail("write " + tmp, err);
  }
  if (f.close() != 0) {
    const int err = errno;
    cleanup();
    return fail("close " + tmp, err);
  }
  std::string final_name;
  for (int attempt = 0;; ++attempt) {
    final_name = "add-" + utcStamp(WallClock::now()) + "-" + pid + "-" +
                 (attempt == 0 ? rnd : randomHex(8)) + ".yaml";
    if (renameNoReplace(dfd.get(), tmp, dfd.get(), final_name) == 0) break;
    const int err = errno;
    if (err == EEXIST && attempt < 5) continue;
    cleanup();
    return fail("rename " + tmp + " to " + final_name, err);
  }
  if (::fsync(dfd.get()) != 0) return fail("fsync directory", errno);
  return dir / final_name;
}

// --- WatchFileMonitor ----------------------------------------------------------

struct WatchFileMonitor::Impl {
  fs::path file;
  fs::path dir;
  std::string name;
  Fd inotify;
  int wd = -1;
  SteadyClock::time_point retry_at{};

  Status watch() {
    int w = ::inotify_add_watch(inotify.get(), dir.c_str(), kWatchFileMask);
    if (w < 0) {
      return Error{"cannot watch directory " + dir.string() + " of watch file " + file.string() +
                   ": " + errnoText(errno)};
    }
    wd = w;
    return Ok{};
  }

  bool changed() {
    bool changed = false;
    int err = drainInotify(inotify.get(), [&](const inotify_event& ev, std::string_view n) {
      if ((ev.mask & IN_Q_OVERFLOW) != 0) {
        changed = true;
        return;
      }
      if (wd < 0 || ev.wd != wd) return;
      if ((ev.mask & kSelfGone) != 0) {
        // The directory went away, and the file with it.
        if ((ev.mask & IN_IGNORED) == 0) ::inotify_rm_watch(inotify.get(), wd);
        wd = -1;
        retry_at = SteadyClock::now() + kRetryInterval;
        changed = true;
        return;
      }
      if (n == name) changed = true;
    });
    if (err != 0) changed = true;  // cannot tell: say so, the caller re-reads
    if (wd < 0 && SteadyClock::now() >= retry_at) {
      if (watch().ok()) {
        changed = true;  // it may have come back with the file
      } else {
        retry_at = SteadyClock::now() + kRetryInterval;
      }
    }
    return changed;
  }
};

WatchFileMonitor::WatchFileMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WatchFileMonitor::~WatchFileMonitor() = default;

Result<std::unique_ptr<WatchFileMonitor>> WatchFileMonitor::open(
    const std::filesystem::path& file) {
  auto impl = std::make_unique<Impl>();
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
