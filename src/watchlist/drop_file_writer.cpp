// SPDX-License-Identifier: Apache-2.0
#include "watchlist/drop_file_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <unordered_map>

#include "watchlist/posix_io.h"

namespace jobwatch::watchlist {
namespace {

constexpr mode_t kDropFileMode = 0640;
constexpr int kMaxRenameAttempts = 5;

// The account every entry names, when they all name the same one; else "".
std::string commonAccount(const std::vector<WatchEntry>& entries) {
  if (entries.empty()) return {};
  const std::string& first = entries.front().account;
  for (const auto& e : entries) {
    if (e.account != first) return {};
  }
  return first;
}

std::string emitDropYaml(const std::vector<WatchEntry>& entries) {
  // Every scalar the caller supplies is double-quoted: a plain `null`, `~`,
  // `yes`, `- x` or ` x` would not read back as the same string.
  YAML::Emitter out;
  out << YAML::BeginMap;
  // One account for all (jobwatchd add --account): the file's `account:`.
  const std::string common = commonAccount(entries);
  if (!common.empty()) out << YAML::Key << "account" << YAML::Value << YAML::DoubleQuoted << common;
  out << YAML::Key << "jobs" << YAML::Value << YAML::BeginSeq;
  for (const auto& e : entries) {
    const bool own_account = common.empty() && !e.account.empty();
    if (e.labels.empty() && !own_account) {
      out << YAML::DoubleQuoted << e.id;
      continue;
    }
    out << YAML::BeginMap << YAML::Key << "id" << YAML::Value << YAML::DoubleQuoted << e.id;
    if (own_account) {
      out << YAML::Key << "account" << YAML::Value << YAML::DoubleQuoted << e.account;
    }
    if (!e.labels.empty()) {
      out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
      for (const auto& [key, value] : e.labels) {
        out << YAML::Key << YAML::DoubleQuoted << key << YAML::Value << YAML::DoubleQuoted << value;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
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
    return x.id == y.id && x.labels == y.labels && x.account == y.account;
  });
}

// The YAML text for `entries`, checked to read back as them.
Result<std::string> checkedDropYaml(const std::filesystem::path& dir,
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
  return text;
}

// A dot-named temp file in the drop directory: once created by us, removed
// again unless kept (a name we failed to create is never removed).
class TempDropFile {
 public:
  TempDropFile(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {}
  ~TempDropFile() {
    if (owned_) ::unlinkat(dir_fd_, name_.c_str(), 0);
  }
  TempDropFile(const TempDropFile&) = delete;
  TempDropFile& operator=(const TempDropFile&) = delete;

  const std::string& name() const { return name_; }
  void created() { owned_ = true; }
  void keep() { owned_ = false; }

 private:
  int dir_fd_;
  std::string name_;
  bool owned_ = false;
};

// Creates `tmp` in `dfd`, owned as the directory (when root), mode 0640,
// holding `text`, synced and closed. Returns 0 or the errno of the step
// named in `step`.
int writeTempFile(int dfd, TempDropFile& tmp, const std::string& text, std::string& step) {
  step = "create " + tmp.name();
  Fd f(::openat(dfd, tmp.name().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                kDropFileMode));
  if (!f.valid()) return errno;
  tmp.created();
  // Root adding jobs for a service that runs as another user (systemd
  // DynamicUser=: the drop directory is the service's): the file becomes the
  // directory owner's, or the service could not read it.
  if (::geteuid() == 0) {
    step = "give " + tmp.name() + " to the drop directory's owner";
    struct stat dir_st {};
    if (::fstat(dfd, &dir_st) != 0 ||
        (dir_st.st_uid != 0 && ::fchown(f.get(), dir_st.st_uid, dir_st.st_gid) != 0)) {
      return errno;
    }
  }
  // Exactly 0640 whatever the umask: the daemon may read it as another user
  // of the group.
  step = "write " + tmp.name();
  if (::fchmod(f.get(), kDropFileMode) != 0 || !writeAll(f.get(), text) || ::fsync(f.get()) != 0) {
    return errno;
  }
  step = "close " + tmp.name();
  if (f.close() != 0) return errno;
  return 0;
}

}  // namespace

Result<std::filesystem::path> writeDropFile(const std::filesystem::path& dir,
                                            const std::vector<WatchEntry>& entries) {
  return writeDropFile(dir, entries, systemClock());
}

Result<std::filesystem::path> writeDropFile(const std::filesystem::path& dir,
                                            const std::vector<WatchEntry>& entries,
                                            const Clock& clock) {
  auto text = checkedDropYaml(dir, entries);
  if (!text.ok()) return text.error();
  auto fail = [&](const std::string& what, int err) {
    return Error{"cannot write drop file in " + dir.string() + ": " + what + ": " + errnoText(err)};
  };
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return fail("open directory", errno);

  const std::string pid = std::to_string(::getpid());
  const std::string rnd = randomHex(8);
  // A dot name: the watcher ignores it until the rename below.
  TempDropFile tmp(dfd.get(), ".add-" + pid + "-" + rnd + ".yaml.tmp");
  std::string step;
  if (int err = writeTempFile(dfd.get(), tmp, text.value(), step); err != 0) {
    return fail(step, err);
  }
  std::string final_name;
  for (int attempt = 0;; ++attempt) {
    final_name = "add-" + utcStamp(clock.wallNow()) + "-" + pid + "-" +
                 (attempt == 0 ? rnd : randomHex(8)) + ".yaml";
    if (renameNoReplace(dfd.get(), tmp.name(), dfd.get(), final_name) == 0) break;
    const int err = errno;
    if (err == EEXIST && attempt < kMaxRenameAttempts) continue;
    return fail("rename " + tmp.name() + " to " + final_name, err);
  }
  tmp.keep();  // it is the final file now
  if (::fsync(dfd.get()) != 0) return fail("fsync directory", errno);
  return dir / final_name;
}

}  // namespace jobwatch::watchlist
