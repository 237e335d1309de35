// SPDX-License-Identifier: Apache-2.0
// Reading the API key from a file, the environment or a systemd credential.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "config/config.h"
#include "config_test_support.h"
#include "support/scoped_env.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

// --- API key --------------------------------------------------------------------

constexpr const char* kSecret = "sk-live-0123456789abcdef";

TEST(ReadApiKey, FromFileTrimmed) {
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("key", std::string(kSecret) + "\r\n\n  ");
  auto key = readApiKey(api);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key.value(), kSecret);
}

TEST(ReadApiKey, FileWinsOverEnvironment) {
  TempDir dir;
  ::setenv("JOBWATCH_TEST_KEY_BOTH", "from-env", 1);
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_BOTH";
  api.api_key_file = dir.write("key", "from-file\n");
  auto key = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_BOTH");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key.value(), "from-file");
}

TEST(ReadApiKey, EmptyOrMissingFileNamesTheFile) {
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("empty", " \n\n");
  auto empty = readApiKey(api);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(empty.error().message, HasSubstr("empty"));

  api.api_key_file = dir.path() / "missing";
  auto missing = readApiKey(api);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(missing.error().message, HasSubstr("No such file or directory"));
}

TEST(ReadApiKey, UnreadableFileNamesTheFileAndErrno) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("key", kSecret);
  fs::permissions(*api.api_key_file, fs::perms::none);
  auto key = readApiKey(api);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(key.error().message, HasSubstr("Permission denied"));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

TEST(ReadApiKey, MultiLineFileIsRefusedWithoutShowingIt) {
  TempDir dir;
  ApiConfig api;
  api.api_key_file = dir.write("key", std::string(kSecret) + "\nX-Other: " + kSecret + "\n");
  auto key = readApiKey(api);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr(api.api_key_file->string()));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

TEST(ReadApiKey, FromEnvironment) {
  ::setenv("JOBWATCH_TEST_KEY_ENV", kSecret, 1);
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_ENV";
  auto key = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_ENV");
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key.value(), kSecret);
}

TEST(ReadApiKey, UnsetOrEmptyEnvironmentNamesTheVariable) {
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_UNSET";
  ::unsetenv("JOBWATCH_TEST_KEY_UNSET");
  auto unset = readApiKey(api);
  ASSERT_FALSE(unset.ok());
  EXPECT_THAT(unset.error().message, HasSubstr("JOBWATCH_TEST_KEY_UNSET"));
  EXPECT_THAT(unset.error().message, HasSubstr("api_key_file"));

  ::setenv("JOBWATCH_TEST_KEY_UNSET", "", 1);
  auto empty = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_UNSET");
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.error().message, HasSubstr("JOBWATCH_TEST_KEY_UNSET"));
}

TEST(ReadApiKey, EnvironmentWithControlCharactersIsRefusedWithoutShowingIt) {
  ::setenv("JOBWATCH_TEST_KEY_CTRL", (std::string(kSecret) + "\r\nInjected: 1").c_str(), 1);
  ApiConfig api;
  api.api_key_env = "JOBWATCH_TEST_KEY_CTRL";
  auto key = readApiKey(api);
  ::unsetenv("JOBWATCH_TEST_KEY_CTRL");
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr("JOBWATCH_TEST_KEY_CTRL"));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

// --- API key as a systemd credential ---------------------------------------

using ScopedEnvVar = testing_support::ScopedEnv;

TEST(ApiKeyCredential, PrefixIsKeptUnresolvedNotAnchoredAtTheConfigDirectory) {
  Config braced = valid("api:\n  api_key_file: ${CREDENTIALS_DIRECTORY}/api-key\n");
  EXPECT_EQ(braced.api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/api-key"));
  // The bare form means the same and is stored in the braced one.
  Config bare = valid("api:\n  api_key_file: $CREDENTIALS_DIRECTORY/api-key\n");
  EXPECT_EQ(bare.api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/api-key"));
  // Anything else stays a path; relative ones are anchored as before.
  Config other = valid("api:\n  api_key_file: keys/$HOME/api-key\n");
  EXPECT_EQ(other.api.api_key_file, fs::path("/etc/jobwatchd/keys/$HOME/api-key"));
}

TEST(ApiKeyCredential, NameMustBeOneCredential) {
  for (const char* name : {"", "..", ".", "sub/api-key", "../../etc/shadow"}) {
    expectOnlyIssue(
        std::string("api:\n  api_key_file: \"${CREDENTIALS_DIRECTORY}/") + name + "\"\n",
        "api.api_key_file", 2, "the name of one credential");
  }
}

TEST(ApiKeyCredential, ReadFromTheDirectoryInTheEnvironment) {
  TempDir dir;
  dir.write("api-key", std::string(kSecret) + "\n");
  ScopedEnvVar credentials("CREDENTIALS_DIRECTORY", dir.path().c_str());
  ApiConfig api = valid("api:\n  api_key_file: ${CREDENTIALS_DIRECTORY}/api-key\n").api;
  auto file = resolveApiKeyFile(*api.api_key_file);
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_EQ(file.value(), dir.path() / "api-key");
  auto key = readApiKey(api);
  ASSERT_TRUE(key.ok()) << key.error().message;
  EXPECT_EQ(key.value(), kSecret);

  // Errors name the resolved file.
  api.api_key_file = fs::path("${CREDENTIALS_DIRECTORY}/missing");
  auto missing = readApiKey(api);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr((dir.path() / "missing").string()));
}

TEST(ApiKeyCredential, UnsetDirectoryIsAClearErrorNotTheEnvironmentKey) {
  ScopedEnvVar credentials("CREDENTIALS_DIRECTORY", nullptr);
  ScopedEnvVar env_key("UNSILOED_API_KEY", kSecret);
  ApiConfig api;
  api.api_key_file = fs::path("${CREDENTIALS_DIRECTORY}/api-key");
  auto key = readApiKey(api);
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.error().message, HasSubstr("CREDENTIALS_DIRECTORY is not set"));
  EXPECT_THAT(key.error().message, HasSubstr("${CREDENTIALS_DIRECTORY}/api-key"));
  EXPECT_THAT(key.error().message, Not(HasSubstr(kSecret)));
}

TEST(ApiKeyCredential, ShippedExampleReadsTheUnitsCredential) {
  // etc/jobwatchd.yaml goes with systemd/jobwatchd.service (LoadCredential=api-key:...).
  ConfigLoad l = loadConfigFile(fs::path(JOBWATCH_SOURCE_DIR) / "etc" / "jobwatchd.yaml");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  EXPECT_EQ(l.config->api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/api-key"));
}

}  // namespace
}  // namespace jobwatch::config
