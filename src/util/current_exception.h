// SPDX-License-Identifier: Apache-2.0
// What the exception being handled says, for the one `catch (...)` at the
// top of each thread body: no exception, std::exception or not, may escape
// a thread (STYLE.md), and each is logged before the thread says it failed.
//
// Thread-safety: pure; call only inside a catch block.
#pragma once

#include <exception>
#include <string>

namespace jobwatch {

inline std::string currentExceptionText() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace jobwatch
