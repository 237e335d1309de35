// SPDX-License-Identifier: Apache-2.0
#include "watchlist/drop_file_reader.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "util/bounded_file.h"
#include "watchlist/posix_io.h"

namespace jobwatch::watchlist {
namespace {

constexpr std::size_t kMaxReasonLines = 50;

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

// Where in `text` the first NUL byte is, as a 1-based line; 0 if none.
int lineOfNul(const std::string& text) {
  auto pos = text.find('\0');
  if (pos == std::string::npos) return 0;
  return 1 + static_cast<int>(
                 std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
}

// A drop file must be the only name of its file. A hard link to a file
// elsewhere (which whoever can write the drop directory may create to any
// file they can name, not only read) would have us read it and quote it
// back (issue 18 #7); a writer that links its file in and then removes its
// own name leaves one link, and that is fine.
std::string hardLinkReason(nlink_t links) {
  return "has " + std::to_string(links) +
         " hard links; refusing to read it (a drop file must have no other name: "
         "link() it in and remove the original, or rename() it in)";
}

DropFileRead rejected(std::string reason) {
  DropFileRead out;
  out.outcome = DropFileRead::Outcome::kRejected;
  out.reason = std::move(reason);
  return out;
}

// Judges the text of a file that was read whole.
DropFileRead judge(const std::string& text, const std::filesystem::path& shown) {
  if (text.empty()) return rejected("no jobs: the file is empty");
  if (int line = lineOfNul(text); line > 0) {
    return rejected(shown.string() + ":" + std::to_string(line) +
                    ": binary content (a NUL byte); expected YAML or one job ID per line");
  }
  WatchParse parse = parseWatchContent(text, shown);
  if (!parse.issues.empty()) return rejected(formatDropIssues(parse.issues));
  if (parse.entries.empty()) return rejected("no jobs: the file lists none");
  DropFileRead out;
  out.outcome = DropFileRead::Outcome::kAccepted;
  out.entries = std::move(parse.entries);
  return out;
}

}  // namespace

std::string formatDropIssues(const std::vector<WatchIssue>& issues) {
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

DropFileRead readDropFile(int dir_fd, const std::string& name, const std::filesystem::path& shown) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    DropFileRead gone;
    if (errno != ENOENT) gone.notice = "cannot stat " + shown.string() + ": " + errnoText(errno);
    return gone;
  }
  // Judged before opening (a device is never opened), and again on the
  // opened descriptor: the name may have been replaced in between.
  if (!S_ISREG(st.st_mode)) return rejected(notRegularReason(st.st_mode));
  if (st.st_nlink > 1) return rejected(hardLinkReason(st.st_nlink));
  // O_NONBLOCK: should the name have become a FIFO meanwhile, do not hang.
  Fd f(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!f.valid()) {
    const int err = errno;
    if (err == ENOENT) return DropFileRead{};
    if (err == ELOOP) return rejected(notRegularReason(S_IFLNK));
    return rejected("cannot open: " + errnoText(err));
  }
  if (::fstat(f.get(), &st) != 0) return rejected("cannot stat: " + errnoText(errno));
  if (!S_ISREG(st.st_mode)) return rejected(notRegularReason(st.st_mode));
  if (st.st_nlink > 1) return rejected(hardLinkReason(st.st_nlink));
  auto text = readBoundedFd(f.get(), kMaxDropFileBytes);
  f.reset();
  if (!text.ok()) return rejected(text.error().message);
  DropFileRead out = judge(*text, shown);
  out.bytes_read = text->size();
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  return out;
}

}  // namespace jobwatch::watchlist
