// SPDX-License-Identifier: Apache-2.0
// Fuzzes the duration parser (parseDuration) and checks that what
// formatDuration prints parses back: exactly for whole seconds and for
// values under a second, otherwise within the 0.1 s it rounds to (it shows
// one decimal of seconds "for people").
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "util/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = jobwatch::parseDuration(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.error().message.empty());
    return 0;
  }
  const jobwatch::Millis value = parsed.value();
  FUZZ_CHECK(value.count() >= 0);
  const std::string shown = jobwatch::formatDuration(value);
  auto again = jobwatch::parseDuration(shown);
  FUZZ_CHECK(again.ok());
  const auto diff = std::chrono::abs(again.value() - value);
  if (value.count() < 1000 || value.count() % 1000 == 0) {
    FUZZ_CHECK(diff.count() == 0);
  } else {
    FUZZ_CHECK(diff.count() <= 50);
  }
  return 0;
}
