// SPDX-License-Identifier: Apache-2.0
// TempDir: a fresh directory under the test's temp dir (gtest's TempDir(),
// which honours TEST_TMPDIR), removed with everything in it at the end of
// its scope, even when a test took away its own write permission.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace jobwatch::testing_support {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "jobwatch-test") {
    std::string pattern = ::testing::TempDir() + prefix + ".XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << " failed";
      std::abort();
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // Writes `content` to the file `name` inside; returns its path.
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    std::filesystem::path p = path_ / name;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) ADD_FAILURE() << "cannot write " << p;
    return p;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace jobwatch::testing_support
