// SPDX-License-Identifier: Apache-2.0
// Reads one operator-written YAML config against a schema: walks maps of
// known keys (an unknown key gets a did-you-mean), reads typed values
// (durations, whole numbers in a range, fractions, booleans, paths, lists),
// and collects every problem as a ConfigIssue naming file, line and dotted
// key. Nothing throws out. Internal to config/: the section parsers
// (sections.h) are built on it.
//
// Thread-safety: one reader per load, used by one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "util/duration.h"

namespace jobwatch::config {

// A value from the file with where it is.
struct Value {
  YAML::Node node;
  std::string key;  // dotted path
  int line = 0;     // line of the key; used when the value itself has no mark
};

// One known key of a map and what reads its value.
struct Field {
  std::string_view name;
  std::function<void(const Value&)> read;
};

class SchemaReader {
 public:
  // `source` names the file in issues; relative paths are anchored at its directory.
  explicit SchemaReader(std::filesystem::path source);

  // --- reporting -------------------------------------------------------------

  void error(std::string key, int line, std::string message);
  // Also marks the key bad, so checks that span keys leave it alone.
  void error(const Value& v, std::string message);
  void warning(std::string key, int line, std::string message);
  void markBad(const std::string& key) { bad_.insert(key); }
  bool isBad(const std::string& key) const { return bad_.count(key) > 0; }
  // Line where a key was set; 0 when it was not.
  int lineFor(const std::string& key) const;
  std::size_t errorCount() const { return issues_.size(); }
  static int valueLine(const Value& v);

  // Everything reported, in file order; `config` only when nothing is wrong.
  // Leaves the reader empty.
  ConfigLoad finish(Config config);

  // --- structure -------------------------------------------------------------

  // Walks a map of settings. A null node (a section with every key commented
  // out) means "all defaults". `what` names the map in messages.
  void walkMap(const Value& v, const std::vector<Field>& fields, std::string_view what);

  // A list of non-empty texts, each with its own key and line; nullopt after
  // reporting any problem.
  std::optional<std::vector<std::pair<std::string, Value>>> list(const Value& v,
                                                                 std::string_view expected);

  // --- scalars ---------------------------------------------------------------
  // Each returns nullopt (or leaves `out` alone) after reporting a problem.

  std::optional<std::string> scalar(const Value& v, std::string_view expected);
  // A scalar that is not empty and holds no control characters.
  std::optional<std::string> text(const Value& v, std::string_view expected);
  std::optional<Millis> duration(const Value& v);
  void positiveDuration(const Value& v, Millis& out);
  std::optional<long long> integer(const Value& v);
  void fraction(const Value& v, double& out, double lo, double hi);
  void boolean(const Value& v, bool& out);
  // A relative path is anchored at the config file's directory.
  std::optional<std::filesystem::path> path(const Value& v);
  // Optional paths may be left empty (`file:`) to mean "not set".
  void optionalPath(const Value& v, std::optional<std::filesystem::path>& out);

  // For settings without a sensible maximum; the type still bounds them.
  static constexpr long long kNoUpperBound = std::numeric_limits<long long>::max();

  template <typename T>
  void integerAtLeast(const Value& v, T& out, long long lo) {
    integerInRange(v, out, lo, kNoUpperBound);
  }

  template <typename T>
  void integerInRange(const Value& v, T& out, long long lo, long long hi) {
    auto n = integer(v);
    if (!n) return;
    const long long type_max = std::cmp_greater(std::numeric_limits<T>::max(), kNoUpperBound)
                                   ? kNoUpperBound
                                   : static_cast<long long>(std::numeric_limits<T>::max());
    if (checkIntegerRange(v, *n, lo, hi, type_max)) out = static_cast<T>(*n);
  }

 private:
  bool checkIntegerRange(const Value& v, long long n, long long lo, long long hi,
                         long long type_max);

  std::filesystem::path source_;
  std::filesystem::path base_dir_;
  std::vector<ConfigIssue> issues_;
  std::vector<ConfigIssue> warnings_;
  std::map<std::string, int> lines_;  // dotted key -> line where it was set
  std::set<std::string> bad_;         // keys whose value was rejected
};

}  // namespace jobwatch::config
