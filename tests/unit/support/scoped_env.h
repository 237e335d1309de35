// SPDX-License-Identifier: Apache-2.0
// ScopedEnv: sets (or, with nullptr, unsets) an environment variable for
// one test and restores the old value when it goes out of scope.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace jobwatch::testing_support {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace jobwatch::testing_support
