// SPDX-License-Identifier: Apache-2.0
#include "hooks/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace jobwatch::hooks {
namespace {

// posix_spawnp's default when PATH is not in the environment.
constexpr std::string_view kDefaultSearchPath = "/bin:/usr/bin";
constexpr std::string_view kTruncatedMark = "\xe2\x80\xa6[truncated]";  // "…[truncated]"
// Upper bounds on bytes read by one pump() (fairness between children) and
// by the final drain after the child exited (a grandchild may keep writing).
constexpr size_t kPumpReadLimit = size_t{256} * 1024;
constexpr size_t kDrainReadLimit = size_t{1024} * 1024;

std::string errnoText(int err) {
  const char* text = strerrordesc_np(err);  // thread-safe, unlike strerror
  return text != nullptr ? text : "error " + std::to_string(err);
}

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// Owns a descriptor until released.
struct OwnedFd {
  int fd = -1;
  OwnedFd() = default;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { closeFd(fd); }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

// Moves a descriptor above 0/1/2 if it landed there (a daemon started with
// a closed stdin): otherwise the child's dup2 sequence could overwrite one
// pipe end with another before it was duplicated.
Status moveAboveStdio(OwnedFd& f) {
  if (f.fd > 2) return Ok{};
  int moved = ::fcntl(f.fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return Error{"fcntl(F_DUPFD_CLOEXEC): " + errnoText(errno)};
  closeFd(f.fd);
  f.fd = moved;
  return Ok{};
}

Status makePipe(OwnedFd& read_end, OwnedFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error{"pipe2: " + errnoText(errno)};
  read_end.fd = fds[0];
  write_end.fd = fds[1];
  if (auto s = moveAboveStdio(read_end); !s) return s;
  return moveAboveStdio(write_end);
}

bool setNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) == 0;
}

// posix_spawnp semantics, but searching the PATH the hook will get rather
// than the daemon's own. Empty PATH entries (meaning the current directory)
// are skipped: a daemon should not run programs from wherever it happens to
// be.
Result<std::string> resolveCommand(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty()) return Error{"empty command"};
  if (name.find('/') != std::string::npos) return name;
  std::string_view search = kDefaultSearchPath;
  for (const auto& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) {
      search = std::string_view(entry).substr(5);
      break;
    }
  }
  while (true) {
    size_t colon = search.find(':');
    std::string_view dir = search.substr(0, colon);
    if (!dir.empty()) {
      std::string candidate(dir);
      if (candidate.back() != '/') candidate += '/';
      candidate += name;
      if (isExecutableFile(candidate)) return candidate;
    }
    if (colon == std::string_view::npos) break;
    search.remove_prefix(colon + 1);
  }
  return Error{"command not found: " + name};
}

std::vector<char*> cStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// write() that reports EPIPE without raising SIGPIPE in the caller, whatever
// the process's disposition: block it for the call and consume a SIGPIPE
// this write raised (but not one that was already pending).
ssize_t writeNoSigpipe(int fd, const char* data, size_t size) {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  sigset_t old_mask;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  ssize_t n = ::write(fd, data, size);
  int saved = errno;
  if (n < 0 && saved == EPIPE && !was_pending) {
    struct timespec zero {};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  errno = saved;
  return n;
}

void appendEscapedByte(std::string& out, unsigned char byte) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", byte);
  out += buf;
}

// Length of the valid UTF-8 sequence starting at text[i] (0 if invalid).
size_t utf8SequenceLength(std::string_view text, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (lead >= 0xc2 && lead <= 0xdf) {
    len = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    len = 3;
    if (lead == 0xe0) lo = 0xa0;  // overlong
    if (lead == 0xed) hi = 0x9f;  // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    len = 4;
    if (lead == 0xf0) lo = 0x90;  // overlong
    if (lead == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  // C1 control characters (U+0080..U+009F) are escaped like C0 ones.
  if (lead == 0xc2 && byte(i + 1) <= 0x9f) return 0;
  return len;
}

// Hook output is untrusted: keep valid UTF-8 text and tabs, escape every
// other control or invalid byte as \xNN so a log line stays one printable
// line.
std::string printable(std::string_view raw) {
  if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);  // CRLF output
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    auto byte = static_cast<unsigned char>(raw[i]);
    if (byte == '\t' || (byte >= 0x20 && byte < 0x7f)) {
      out += raw[i];
      ++i;
    } else if (byte >= 0x80) {
      size_t len = utf8SequenceLength(raw, i);
      if (len == 0) {
        appendEscapedByte(out, byte);
        ++i;
      } else {
        out.append(raw.substr(i, len));
        i += len;
      }
    } else {
      appendEscapedByte(out, byte);
      ++i;
    }
  }
  return out;
}

void emitLine(std::string_view raw, bool truncated, bool is_stderr,
              std::vector<OutputLine>& lines) {
  OutputLine line;
  line.is_stderr = is_stderr;
  line.text = printable(raw);
  if (truncated) line.text += kTruncatedMark;
  lines.push_back(std::move(line));
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::spawn(const SpawnSpec& spec) {
  if (spec.argv.empty()) return Error{"empty command"};
  auto resolved = resolveCommand(spec.argv[0], spec.env);
  if (!resolved) return resolved.error();

  OwnedFd in_read, in_write, out_read, out_write, err_read, err_write;
  if (auto s = makePipe(in_read, in_write); !s) return s.error();
  if (auto s = makePipe(out_read, out_write); !s) return s.error();
  if (auto s = makePipe(err_read, err_write); !s) return s.error();

  posix_spawn_file_actions_t actions;
  if (int rc = posix_spawn_file_actions_init(&actions); rc != 0) {
    return Error{"posix_spawn_file_actions_init: " + errnoText(rc)};
  }
  struct ActionsGuard {
    posix_spawn_file_actions_t* a;
    ~ActionsGuard() { posix_spawn_file_actions_destroy(a); }
  } actions_guard{&actions};
  posix_spawnattr_t attr;
  if (int rc = posix_spawnattr_init(&attr); rc != 0) {
    return Error{"posix_spawnattr_init: " + errnoText(rc)};
  }
  struct AttrGuard {
    posix_spawnattr_t* a;
    ~AttrGuard() { posix_spawnattr_destroy(a); }
  } attr_guard{&attr};

  // The child gets the three pipe ends as 0/1/2 and nothing else: every
  // other descriptor of the daemon is O_CLOEXEC already, and closefrom
  // catches any that a library opened without it.
  int rc = posix_spawn_file_actions_adddup2(&actions, in_read.fd, 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_write.fd, 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, err_write.fd, 2);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc != 0) return Error{"posix_spawn file actions: " + errnoText(rc)};

  // Own process group (so a timeout can kill the hook's whole tree), an
  // empty signal mask (the daemon blocks SIGTERM/SIGINT/SIGHUP in every
  // thread, and a mask survives exec) and default dispositions for every
  // signal: an ignored one survives exec too. That covers SIGPIPE (ignored
  // by the daemon) and glibc's internal signals 32/33, which posix_spawn
  // would otherwise leave ignored in the child of a threaded parent.
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t defaults;
  sigfillset(&defaults);
  rc = posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &empty_mask);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &defaults);
  if (rc != 0) return Error{"posix_spawn attributes: " + errnoText(rc)};

  std::vector<char*> argv = cStrings(spec.argv);
  std::vector<char*> envp = cStrings(spec.env);
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  pid_t pid = -1;
  // glibc's posix_spawn (CLONE_VFORK) reports exec failures here, not as a
  // child exiting with 127.
  rc = ::posix_spawn(&pid, resolved->c_str(), &actions, &attr, argv.data(), envp.data());
  if (rc != 0) return Error{"cannot run " + *resolved + ": " + errnoText(rc)};
  child->pid_ = pid;  // from here on, the destructor kills and reaps it

  child->in_ = in_write.release();
  child->out_ = out_read.release();
  child->err_ = err_read.release();
  for (int fd : {child->in_, child->out_, child->err_}) {
    if (!setNonBlocking(fd)) return Error{"fcntl(O_NONBLOCK): " + errnoText(errno)};
  }
  // The child's ends are closed by the OwnedFd destructors: the parent must
  // not hold them, or it would never see EOF.

  // A pollable exit. Without it (old kernel, seccomp) the owner polls reap().
  long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  child->pidfd_ = pidfd >= 0 ? static_cast<int>(pidfd) : -1;

  child->stdin_data_ = spec.stdin_data;
  if (child->stdin_data_.empty()) closeFd(child->in_);
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    // The child could have left its group (setpgid/setsid); it is not yet
    // reaped, so its pid cannot have been reused.
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  closeFd(pidfd_);
  closeFd(in_);
  closeFd(out_);
  closeFd(err_);
}

std::vector<ChildProcess::PollFd> ChildProcess::fds() const {
  std::vector<PollFd> out;
  if (!reaped_ && pidfd_ >= 0) out.push_back({pidfd_, POLLIN});
  if (in_ >= 0) out.push_back({in_, POLLOUT});
  if (out_ >= 0) out.push_back({out_, POLLIN});
  if (err_ >= 0) out.push_back({err_, POLLIN});
  return out;
}

void ChildProcess::pump(std::vector<OutputLine>& lines) {
  if (!pending_lines_.empty()) {
    for (auto& line : pending_lines_) lines.push_back(std::move(line));
    pending_lines_.clear();
  }
  writeStdin();
  readStreams(lines, kPumpReadLimit);
}

void ChildProcess::writeStdin() {
  if (in_ < 0) return;
  while (stdin_written_ < stdin_data_.size()) {
    ssize_t n = writeNoSigpipe(in_, stdin_data_.data() + stdin_written_,
                               stdin_data_.size() - stdin_written_);
    if (n > 0) {
      stdin_written_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // EPIPE: the child does not read its stdin; not an error
  }
  closeFd(in_);
  std::string().swap(stdin_data_);
}

void ChildProcess::readStreams(std::vector<OutputLine>& lines, size_t max_bytes) {
  // One chunk from each stream in turn: when both are busy, the output
  // budget is shared between them instead of going to whichever is read
  // first.
  size_t total = 0;
  bool progress = true;
  while (progress && total < max_bytes) {
    progress = false;
    for (bool is_stderr : {false, true}) {
      int& fd = is_stderr ? err_ : out_;
      std::string& buf = is_stderr ? err_buf_ : out_buf_;
      bool& skipping = is_stderr ? err_skip_ : out_skip_;
      if (fd < 0) continue;
      char chunk[16384];
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n > 0) {
        total += static_cast<size_t>(n);
        consume(chunk, static_cast<size_t>(n), buf, skipping, is_stderr, lines);
        progress = true;
      } else if (n < 0 && errno == EINTR) {
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // nothing now
      } else {
        // EOF (or a read error, treated alike: nothing more will come).
        flushPartial(buf, skipping, is_stderr, lines);
        closeFd(fd);
      }
    }
  }
}

void ChildProcess::consume(const char* data, size_t size, std::string& buf, bool& skipping,
                           bool is_stderr, std::vector<OutputLine>& lines) {
  for (size_t i = 0; i < size; ++i) {
    const char c = data[i];
    if (logged_ >= kMaxOutput) {
      dropped_ += size - i;
      return;
    }
    if (c == '\n') {
      if (!skipping) emitLine(buf, false, is_stderr, lines);
      skipping = false;
      buf.clear();
      ++logged_;
    } else if (skipping) {
      ++dropped_;
    } else if (buf.size() == kMaxLine) {
      emitLine(buf, true, is_stderr, lines);
      buf.clear();
      skipping = true;
      ++dropped_;
    } else {
      buf += c;
      ++logged_;
    }
    if (logged_ >= kMaxOutput) {
      // Budget spent: what is buffered on either stream is shown now (it
      // would otherwise wait for a newline that is never logged).
      flushPartial(out_buf_, out_skip_, false, lines);
      flushPartial(err_buf_, err_skip_, true, lines);
    }
  }
}

void ChildProcess::flushPartial(std::string& buf, bool& skipping, bool is_stderr,
                                std::vector<OutputLine>& lines) {
  if (!buf.empty() && !skipping) emitLine(buf, logged_ >= kMaxOutput, is_stderr, lines);
  buf.clear();
  skipping = false;
}

std::optional<ExitInfo> ChildProcess::reap() {
  if (exit_) return exit_;
  if (pid_ <= 0) return std::nullopt;

  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  // WNOWAIT: look without reaping, so that the group ID stays pinned while
  // stragglers are killed.
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
    if (errno == EINTR) return std::nullopt;
    // ECHILD: someone else reaped it (SIGCHLD ignored, or a stray
    // waitpid(-1)). The status is lost; the pid must never be signalled
    // again.
    reaped_ = true;
    exit_ = ExitInfo{false, -1, 0};
  } else {
    if (info.si_pid == 0) return std::nullopt;  // still running
    if (terminating_) ::kill(-pid_, SIGKILL);
    std::memset(&info, 0, sizeof info);
    while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    ExitInfo exit;
    if (info.si_code == CLD_EXITED) {
      exit.exited = true;
      exit.code = info.si_status;
    } else {
      exit.signal = info.si_status;
    }
    exit_ = exit;
  }

  // Everything the child wrote is in the pipes now. Read it, then close:
  // a grandchild holding the write ends must not delay the exit.
  closeFd(in_);
  readStreams(pending_lines_, kDrainReadLimit);
  flushPartial(out_buf_, out_skip_, false, pending_lines_);
  flushPartial(err_buf_, err_skip_, true, pending_lines_);
  closeFd(out_);
  closeFd(err_);
  return exit_;
}

void ChildProcess::signalGroup(int sig) {
  if (pid_ <= 0 || reaped_) return;
  if (sig == SIGTERM || sig == SIGINT || sig == SIGKILL) terminating_ = true;
  ::kill(-pid_, sig);  // ESRCH: the group is gone already
  // A child that moved itself out of its group is still ours to end.
  if (::getpgid(pid_) != pid_) ::kill(pid_, sig);
}

}  // namespace jobwatch::hooks
