// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the config tests: loading YAML text as if from
// /etc/jobwatchd/jobwatchd.yaml, expecting exactly one issue, and a temporary
// directory for real files.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.h"

namespace jobwatch::config::test_support {

namespace fs = std::filesystem;

inline const fs::path kSource = "/etc/jobwatchd/jobwatchd.yaml";

inline ConfigLoad load(const std::string& yaml) { return loadConfigText(yaml, kSource); }

// Loads a config that must be valid; returns it.
inline Config valid(const std::string& yaml) {
  ConfigLoad l = load(yaml);
  for (const auto& i : l.issues) ADD_FAILURE() << "unexpected issue: " << i.toString();
  if (!l.config) return Config{};
  return *l.config;
}

inline std::string allIssues(const ConfigLoad& l) {
  std::string out;
  for (const auto& i : l.issues) out += i.toString() + "\n";
  return out;
}

// Expects exactly one problem, at `key` on `line`, whose message contains `text`.
inline void expectOnlyIssue(const std::string& yaml, const std::string& key, int line,
                            const std::string& text) {
  SCOPED_TRACE(yaml);
  ConfigLoad l = load(yaml);
  EXPECT_FALSE(l.config.has_value());
  ASSERT_EQ(l.issues.size(), 1u) << allIssues(l);
  EXPECT_EQ(l.issues[0].key, key);
  EXPECT_EQ(l.issues[0].line, line);
  EXPECT_EQ(l.issues[0].file, kSource);
  EXPECT_THAT(l.issues[0].message, ::testing::HasSubstr(text));
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "config_test.XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  fs::path path_;
};

}  // namespace jobwatch::config::test_support
