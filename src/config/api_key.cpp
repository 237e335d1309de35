// SPDX-License-Identifier: Apache-2.0
#include "config/api_key.h"

#include <cstdlib>

#include "config/config.h"
#include "config/names.h"
#include "util/account_name.h"
#include "util/bounded_file.h"
#include "util/job_id.h"

namespace jobwatch::config {
namespace {

// An API key is short; a large "key file" is the wrong file.
constexpr std::size_t kMaxApiKeyBytes = std::size_t{64} * 1024;

Result<std::string> readKeyFile(const std::filesystem::path& configured) {
  auto file = resolveApiKeyFile(configured);
  if (!file.ok()) return Error{file.error().message};
  const std::string name = file.value().string();
  auto content = readBoundedFile(file.value(), kMaxApiKeyBytes);
  if (!content.ok()) return Error{"API key file " + name + ": " + content.error().message};
  std::string_view key = trimTrailingSpace(content.value());
  if (key.empty()) return Error{"API key file " + name + " is empty"};
  // A line break or control byte inside would end up in an HTTP header.
  if (hasControlChars(key)) {
    return Error{"API key file " + name +
                 " holds more than one line or control characters; it must hold only the key"};
  }
  return std::string(key);
}

Result<std::string> readKeyVariable(const std::string& variable) {
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr || *value == '\0') {
    return Error{"environment variable " + variable +
                 " is not set or empty; set it, or point api.api_key_file at a file holding the "
                 "key (e.g. a systemd LoadCredential= credential)"};
  }
  std::string_view key = trimTrailingSpace(value);
  if (key.empty() || hasControlChars(key)) {
    return Error{"environment variable " + variable +
                 " holds only whitespace or control characters; it must hold only the key"};
  }
  return std::string(key);
}

}  // namespace

std::optional<Result<std::filesystem::path>> credentialReference(std::string_view written) {
  for (std::string_view prefix : {kCredentialsDirPrefix, kCredentialsDirPrefixBare}) {
    if (written.substr(0, prefix.size()) != prefix) continue;
    const std::string_view name = written.substr(prefix.size());
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
        hasControlChars(name)) {
      return Result<std::filesystem::path>(
          Error{quoteForMessage(written) + ": after " + std::string(prefix) +
                " comes the name of one credential (as in LoadCredential=NAME:...), without '/'"});
    }
    return Result<std::filesystem::path>(
        std::filesystem::path(std::string(kCredentialsDirPrefix) + std::string(name)));
  }
  return std::nullopt;
}

Result<std::filesystem::path> resolveApiKeyFile(const std::filesystem::path& configured) {
  return resolveCredentialFile(configured, "api.api_key_file");
}

Result<std::filesystem::path> resolveCredentialFile(const std::filesystem::path& configured,
                                                    std::string_view key) {
  const std::string text = configured.string();
  if (text.rfind(kCredentialsDirPrefix, 0) != 0) return configured;
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    return Error{std::string(key) + " is " + text +
                 ", but the environment variable CREDENTIALS_DIRECTORY is not set: systemd sets "
                 "it for a unit with LoadCredential= (see jobwatchd.service); outside systemd, "
                 "set it to the directory that holds the file, e.g. "
                 "CREDENTIALS_DIRECTORY=/etc/jobwatchd"};
  }
  return std::filesystem::path(dir) / text.substr(kCredentialsDirPrefix.size());
}

Result<std::string> readApiKey(const ApiConfig& api) {
  if (api.api_key_file) return readKeyFile(*api.api_key_file);
  return readKeyVariable(api.api_key_env);
}

Result<std::string> readApiKey(const AccountConfig& account) {
  auto key = readApiKey(account.api);
  if (key.ok() || account.name.empty() || account.name == kDefaultAccount) return key;
  return Error{"account `" + account.name + "`: " + key.error().message, key.error().kind};
}

}  // namespace jobwatch::config
