// SPDX-License-Identifier: Apache-2.0
// Result<T>: the value of an operation that can fail in an expected way
// (bad input, I/O, network). Failures carry a human-readable message that
// names the place at fault. Unexpected states are bugs and abort instead.
//
// Thread-safety: a value type; no shared state.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace jobwatch {

// What kind of failure, for the exit code and for systemd's restart policy:
// bad input (configuration, a file that is not ours: exit 1, restarting does
// not help) or a runtime condition that may pass (a busy or locked
// database, a full disk, a network outage: exit 3, systemd restarts).
enum class ErrorKind { kBadInput, kRuntime };

struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::kBadInput;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const T& value() const& { return checked(); }
  T& value() & { return checked(); }
  // By value: `for (auto& x : f().value())` must not dangle.
  T value() && { return std::move(checked()); }
  const T& operator*() const& { return checked(); }
  const T* operator->() const { return &checked(); }

  const Error& error() const {
    if (ok()) die("Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "jobwatchd: broken invariant: %s\n", what);
    std::abort();
  }
  T& checked() {
    if (!ok()) die("Result::value() on an error");
    return std::get<0>(v_);
  }
  const T& checked() const {
    if (!ok()) die("Result::value() on an error");
    return std::get<0>(v_);
  }

  std::variant<T, Error> v_;
};

// For operations that return nothing but can fail.
struct Ok {};
using Status = Result<Ok>;

}  // namespace jobwatch
