// SPDX-License-Identifier: Apache-2.0
// Fuzzes the config loader (config::loadConfigText): any text must come
// back as a config or as issues naming the file, never as a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_check.h"
#include "util/account_name.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const jobwatch::config::ConfigLoad load =
      jobwatch::config::loadConfigText(text, "/etc/jobwatchd/fuzz.yaml");
  FUZZ_CHECK(load.config.has_value() == load.issues.empty());
  for (const auto& issue : load.issues) {
    FUZZ_CHECK(issue.line >= 0);
    const std::string shown = issue.toString();
    FUZZ_CHECK(shown.starts_with("/etc/jobwatchd/fuzz.yaml"));
  }
  for (const auto& warning : load.warnings) (void)warning.toString();
  if (load.config) {
    const auto& config = *load.config;
    // 0ms is valid: as fast as the budget allows (the throughput benchmark).
    FUZZ_CHECK(config.poll.interval.count() >= 0);
    FUZZ_CHECK(config.poll.max_interval >= config.poll.interval);
    FUZZ_CHECK(config.api.max_concurrent_requests > 0);
    // Accounts: "default" (api:) first, then valid, distinct names.
    FUZZ_CHECK(!config.accounts.empty() && config.accounts[0].name == "default");
    FUZZ_CHECK(config.accounts[0].api.base_url == config.api.base_url);
    for (size_t i = 0; i < config.accounts.size(); ++i) {
      const auto& account = config.accounts[i];
      FUZZ_CHECK(jobwatch::isAccountName(account.name));
      FUZZ_CHECK(account.threads >= 1 && account.threads <= 16);
      FUZZ_CHECK(account.api.max_concurrent_requests > 0);
      FUZZ_CHECK(config.account(account.name) == &account);
    }
  }
  return 0;
}
