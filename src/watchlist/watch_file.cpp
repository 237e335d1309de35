// SPDX-License-Identifier: Apache-2.0
#include "watchlist/watch_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "util/account_name.h"
#include "util/bounded_file.h"
#include "util/job_id.h"
#include "util/label_limits.h"
#include "util/result.h"
#include "util/yaml_node.h"

namespace jobwatch::watchlist {
namespace {

namespace fs = std::filesystem;

// Room for ~400,000 UUIDs, far beyond any real list; it bounds memory for a
// hostile or mistaken drop file.
constexpr std::size_t kMaxWatchFileBytes = std::size_t{16} * 1024 * 1024;

// Input quoted in a message: escaped, at most 40 characters. Messages reach
// .reason files and logs that other people read; they must not become a
// way to read a file (issue 18 #7).
constexpr std::size_t kMaxExcerptChars = 40;
std::string excerpt(std::string_view text) { return quoteForMessage(text, kMaxExcerptChars); }

// A valid label name is plain text, but may be 64 characters long.
std::string shortName(std::string_view name) {
  return name.size() <= kMaxExcerptChars ? std::string(name)
                                         : std::string(name.substr(0, kMaxExcerptChars)) + "...";
}

// yaml-cpp's messages can carry input (an anchor's name, an escape
// sequence): escaped, unquoted, bounded.
std::string yamlProblem(std::string_view msg) {
  constexpr std::size_t kMaxChars = 80;
  std::string quoted = quoteForMessage(msg, kMaxChars);
  return quoted.substr(1, quoted.size() - 2);  // without the quotes
}

bool isLabelKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxLabelKeyLength) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(key.front())) return false;
  return std::all_of(key.begin(), key.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool hasControlChars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

using Labels = std::map<std::string, std::string>;

// Why `labels` are too many or too large for one job (label_limits.h:
// every label becomes an environment variable of every hook run); empty
// when they fit.
std::string labelCapProblem(const Labels& labels) {
  if (labels.size() > kMaxLabelsPerJob) {
    return std::to_string(labels.size()) + " labels, more than the " +
           std::to_string(kMaxLabelsPerJob) + " a job may have";
  }
  std::size_t bytes = 0;
  for (const auto& [key, value] : labels) bytes += key.size() + value.size();
  if (bytes > kMaxLabelBytesPerJob) {
    return "labels of " + std::to_string(bytes) + " bytes (names and values), more than the " +
           std::to_string(kMaxLabelBytesPerJob) + " a job may have";
  }
  return {};
}

// Collects entries in first-seen order, merging duplicates.
class EntryCollector {
 public:
  // Adds the entry, or says why it cannot be: listed earlier under another
  // account, or merged with an earlier entry of the same job, its labels
  // would exceed the caps.
  std::string add(std::string id, Labels labels, std::string account, int line) {
    auto [it, fresh] = index_.emplace(id, entries_.size());
    if (fresh) {
      entries_.push_back(WatchEntry{std::move(id), std::move(labels), std::move(account), line});
      return {};
    }
    WatchEntry& earlier = entries_[it->second];
    if (!sameAccount(earlier.account, account)) {
      return "job " + excerpt(id) + " is listed on line " + std::to_string(earlier.line) +
             " under account " + shownAccount(earlier.account) + " and here under account " +
             shownAccount(account) + "; a job belongs to one account";
    }
    // A later entry's labels win per key; keys it does not mention are kept.
    Labels merged = earlier.labels;
    for (auto& [key, value] : labels) merged[key] = std::move(value);
    if (std::string problem = labelCapProblem(merged); !problem.empty()) {
      return "job entry rejected: merged with the earlier entry of " + excerpt(id) +
             " it would have " + problem;
    }
    earlier.labels = std::move(merged);
    return {};
  }
  std::vector<WatchEntry> take() { return std::move(entries_); }

 private:
  static std::string shownAccount(std::string_view account) {
    return "`" + std::string(account.empty() ? kDefaultAccount : account) + "`";
  }

  std::vector<WatchEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
};

class YamlWatchParser {
 public:
  explicit YamlWatchParser(const fs::path& source) : source_(source) {}

  WatchParse parse(const std::string& text) {
    try {
      const YamlDocument doc = loadSingleYamlDocument(text);
      if (doc.second_document_line > 0) {
        issue(doc.second_document_line,
              "a second YAML document starts here (after '---', or where the YAML stops "
              "making sense); expected exactly one");
      } else if (doc.present) {
        parseTop(doc.root);
      }
    } catch (const YAML::Exception& e) {
      issue(e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + yamlProblem(e.msg));
    }
    WatchParse out;
    out.entries = collector_.take();
    out.issues = std::move(issues_);
    return out;
  }

 private:
  void issue(int line, std::string message) {
    issues_.push_back(WatchIssue{source_, line, std::move(message)});
  }

  void parseTop(const YAML::Node& root) {
    if (root.IsNull()) return;
    if (!root.IsMap()) {
      issue(yamlLine(root, 1),
            "the top level must be a map with a `jobs` list, got " + yamlKind(root));
      return;
    }
    std::optional<std::pair<YAML::Node, int>> jobs;
    bool seen_account = false;
    bool account_ok = true;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const int line = yamlLine(it->first, 1);
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      if (!it->first.IsScalar() || (key != "jobs" && key != "account")) {
        std::string shown =
            it->first.IsScalar() ? excerpt(it->first.Scalar()) : yamlKind(it->first);
        issue(line, "unknown key " + shown +
                        " at the top level (the keys are `jobs` and an optional `account`)");
        continue;
      }
      if (key == "jobs" ? jobs.has_value() : seen_account) {
        issue(line, "duplicate key `" + key + "`");
        continue;
      }
      if (key == "jobs") {
        jobs.emplace(it->second, line);
        continue;
      }
      seen_account = true;
      account_ok = readAccount(it->second, line, " (no job of this file is taken)", top_account_);
      top_account_line_ = line;
    }
    if (jobs && account_ok) parseJobs(jobs->first, jobs->second);
  }

  // An `account:` value: a valid account name, or an issue (ending with
  // `consequence`) and false.
  bool readAccount(const YAML::Node& node, int line, std::string_view consequence,
                   std::string& out) {
    if (!node.IsScalar()) {
      issue(yamlLine(node, line),
            "`account` must be an account name, got " + yamlKind(node) + std::string(consequence));
      return false;
    }
    if (!isAccountName(node.Scalar())) {
      issue(yamlLine(node, line), "invalid account name " + excerpt(node.Scalar()) +
                                      std::string(kAccountNameRule) + std::string(consequence));
      return false;
    }
    out = node.Scalar();
    return true;
  }

  // The account of an entry that names `own` ("" for none) on `line`:
  // nullopt after an issue when it contradicts the top-level `account:`.
  std::optional<std::string> entryAccount(std::string own, int line) {
    if (own.empty()) return top_account_;
    if (top_account_line_ > 0 && !sameAccount(own, top_account_)) {
      issue(line, "job entry names account " + excerpt(own) +
                      ", but this file's `account:` (line " + std::to_string(top_account_line_) +
                      ") is " + excerpt(top_account_) +
                      "; a file's jobs all belong to its account");
      return std::nullopt;
    }
    return own;
  }

  void parseJobs(const YAML::Node& jobs, int key_line) {
    if (jobs.IsNull()) return;
    if (!jobs.IsSequence()) {
      issue(yamlLine(jobs, key_line), "`jobs` must be a list of job IDs, got " + yamlKind(jobs));
      return;
    }
    for (const YAML::Node& entry : jobs) parseEntry(entry, yamlLine(entry, key_line));
  }

  void parseEntry(const YAML::Node& entry, int line) {
    if (entry.IsScalar()) {
      addIfValid(entry.Scalar(), line, {}, top_account_);
      return;
    }
    if (!entry.IsMap()) {
      issue(line,
            "each job must be an ID or a map with `id` and optional `labels` and `account`, got " +
                yamlKind(entry));
      return;
    }
    std::optional<std::string> id;
    int id_line = line;
    bool id_unusable = false;  // present but not a scalar: already reported
    std::string account;       // as named by the entry
    int account_line = line;
    bool account_ok = true;
    std::map<std::string, std::string> labels;
    std::set<std::string> seen;
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      const int key_line = yamlLine(it->first, line);
      if (!it->first.IsScalar()) {
        issue(key_line, "keys must be words, got " + yamlKind(it->first));
        continue;
      }
      const std::string key = it->first.Scalar();
      if (!seen.insert(key).second) {
        issue(key_line, "duplicate key " + excerpt(key) + " in a job entry");
        continue;
      }
      if (key == "id") {
        if (!it->second.IsScalar()) {
          issue(key_line, "`id` must be a job ID, got " + yamlKind(it->second));
          id_unusable = true;
          continue;
        }
        id = it->second.Scalar();
        id_line = yamlLine(it->second, key_line);
      } else if (key == "labels") {
        parseLabels(it->second, key_line, labels);
      } else if (key == "account") {
        account_ok = readAccount(it->second, key_line, "", account);
        account_line = key_line;
      } else {
        issue(key_line, "unknown key " + excerpt(key) +
                            " in a job entry (expected `id`, optional `labels` and `account`)");
      }
    }
    if (id_unusable || !account_ok) return;
    if (!id) {
      issue(line, "job entry has no `id`");
      return;
    }
    if (std::string problem = labelCapProblem(labels); !problem.empty()) {
      issue(line, "job entry rejected: it has " + problem);
      return;
    }
    auto resolved = entryAccount(std::move(account), account_line);
    if (!resolved) return;
    addIfValid(*id, id_line, std::move(labels), std::move(*resolved));
  }

  void parseLabels(const YAML::Node& node, int key_line,
                   std::map<std::string, std::string>& labels) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      issue(yamlLine(node, key_line),
            "`labels` must be a map of name: value, got " + yamlKind(node));
      return;
    }
    // Uppercased name (the hook variable's) -> the label name first seen.
    std::unordered_map<std::string, std::string> env_names;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const int line = yamlLine(it->first, key_line);
      if (!it->first.IsScalar()) {
        issue(line, "label names must be words, got " + yamlKind(it->first));
        continue;
      }
      const std::string key = it->first.Scalar();
      if (!isLabelKey(key)) {
        issue(line, "invalid label name " + excerpt(key) +
                        ": must start with a letter or _ and hold only letters, digits and _ "
                        "(at most 64), as it becomes the variable JOBWATCH_LABEL_<NAME>");
        continue;
      }
      // Hooks see JOBWATCH_LABEL_<NAME uppercased>: names that differ only
      // in case would silently overwrite each other there. One lookup per
      // label keeps a file with many labels linear (a scan of the labels so
      // far made 60,000 labels take minutes: issue 18).
      std::string env_name = upper(key);
      if (auto clash = env_names.find(env_name); clash != env_names.end()) {
        const std::string& earlier = clash->second;
        issue(line, earlier == key
                        ? "duplicate label " + excerpt(key)
                        : "label " + excerpt(key) + " clashes with " + excerpt(earlier) +
                              " (both become JOBWATCH_LABEL_" + shortName(clash->first) + ")");
        continue;
      }
      const YAML::Node value = it->second;
      if (!value.IsScalar()) {
        issue(line, "label " + excerpt(key) + " must have a single value, got " + yamlKind(value));
        continue;
      }
      const std::string& text = value.Scalar();
      if (text.size() > kMaxLabelValueBytes) {
        issue(line, "label " + excerpt(key) + " is longer than 1024 bytes");
        continue;
      }
      if (hasControlChars(text)) {
        issue(line, "label " + excerpt(key) + " contains control characters: " + excerpt(text));
        continue;
      }
      env_names.emplace(std::move(env_name), key);
      labels[key] = text;
    }
  }

  void addIfValid(const std::string& id, int line, std::map<std::string, std::string> labels,
                  std::string account) {
    if (!isValidJobId(id)) {
      issue(line, describeInvalidJobId(id));
      return;
    }
    if (std::string problem = collector_.add(id, std::move(labels), std::move(account), line);
        !problem.empty()) {
      issue(line, std::move(problem));
    }
  }

  fs::path source_;
  std::string top_account_;   // the file's `account:`; "" when none
  int top_account_line_ = 0;  // its line; 0 when none
  EntryCollector collector_;
  std::vector<WatchIssue> issues_;
};

bool isBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string WatchIssue::toString() const {
  std::string out;
  if (!file.empty()) {
    out += file.string();
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  out += message;
  return out;
}

WatchParse parseWatchYaml(const std::string& text, const std::filesystem::path& source) {
  return YamlWatchParser(source).parse(text);
}

WatchParse parseWatchText(const std::string& text, const std::filesystem::path& source) {
  EntryCollector collector;
  WatchParse out;
  std::string_view rest(text);
  // Editors on other systems like to start files with a byte order mark.
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);
  int line = 0;
  while (!rest.empty()) {
    ++line;
    auto newline = rest.find('\n');
    std::string_view current = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (auto hash = current.find('#'); hash != std::string_view::npos) {
      current = current.substr(0, hash);
    }
    while (!current.empty() && isBlank(current.front())) current.remove_prefix(1);
    while (!current.empty() && isBlank(current.back())) current.remove_suffix(1);
    if (current.empty()) continue;
    if (!isValidJobId(current)) {
      out.issues.push_back(WatchIssue{source, line, describeInvalidJobId(current)});
      continue;
    }
    // No labels, no account: always fits.
    (void)collector.add(std::string(current), {}, {}, line);
  }
  out.entries = collector.take();
  return out;
}

WatchParse parseWatchContent(const std::string& text, const std::filesystem::path& source) {
  std::string ext = source.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".txt") return parseWatchText(text, source);
  return parseWatchYaml(text, source);
}

WatchParse loadWatchFile(const std::filesystem::path& path) {
  auto text = readBoundedFile(path, kMaxWatchFileBytes);
  if (!text.ok()) {
    WatchParse out;
    out.issues.push_back(WatchIssue{path, 0, text.error().message});
    return out;
  }
  return parseWatchContent(text.value(), path);
}

}  // namespace jobwatch::watchlist
