// SPDX-License-Identifier: Apache-2.0
// The `accounts` section (SPEC "Accounts"): `api:` is the account
// "default", each entry another that inherits every key it leaves unset,
// `threads`, and the errors naming file, line and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "config/config.h"
#include "config_test_support.h"
#include "support/scoped_env.h"
#include "support/temp_dir.h"

namespace jobwatch::config {
namespace {

using namespace std::chrono_literals;
using namespace test_support;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kFullApi = R"(api:
  base_url: https://api.example.com/v1
  api_key_env: MAIN_KEY
  key_header: X-Main-Key
  rate_limit: 100/min
  request_timeout: 20s
  connect_timeout: 3s
  max_concurrent_requests: 8
  threads: 2
)";

TEST(ConfigAccounts, WithoutAccountsThereIsOnlyTheDefaultAccount) {
  Config c = valid("");
  ASSERT_EQ(c.accounts.size(), 1u);
  EXPECT_EQ(c.accounts[0].name, "default");
  EXPECT_EQ(c.accounts[0].threads, 1);
  EXPECT_EQ(c.accounts[0].api.base_url, c.api.base_url);

  Config d = valid(kFullApi);
  ASSERT_EQ(d.accounts.size(), 1u);
  EXPECT_EQ(d.accounts[0].threads, 2);
  EXPECT_EQ(d.accounts[0].api.base_url, "https://api.example.com/v1");
  EXPECT_EQ(d.accounts[0].api.key_header, "X-Main-Key");
  EXPECT_EQ(d.accounts[0].api.max_concurrent_requests, 8);
  EXPECT_EQ(d.account("default"), &d.accounts[0]);
  EXPECT_EQ(d.account(""), &d.accounts[0]);  // a watch entry that names none
  EXPECT_EQ(d.account("team-b"), nullptr);
  EXPECT_EQ(valid("accounts:\n").accounts.size(), 1u);  // all commented out
}

TEST(ConfigAccounts, AnEntryWithOnlyANameInheritsEveryKey) {
  Config c = valid(kFullApi + "accounts:\n  - name: team-b\n");
  ASSERT_EQ(c.accounts.size(), 2u);
  const AccountConfig& b = c.accounts[1];
  EXPECT_EQ(b.name, "team-b");
  EXPECT_EQ(b.api.base_url, "https://api.example.com/v1");
  EXPECT_EQ(b.api.api_key_env, "MAIN_KEY");
  EXPECT_FALSE(b.api.api_key_file.has_value());
  EXPECT_EQ(b.api.key_header, "X-Main-Key");
  EXPECT_DOUBLE_EQ(b.api.rate_limit.per_second, 100.0 / 60);
  EXPECT_EQ(b.api.request_timeout, 20s);
  EXPECT_EQ(b.api.connect_timeout, 3s);
  EXPECT_EQ(b.api.max_concurrent_requests, 8);
  EXPECT_FALSE(b.api.allow_insecure_http);
  EXPECT_EQ(b.threads, 2);
  EXPECT_EQ(c.account("team-b"), &c.accounts[1]);
}

TEST(ConfigAccounts, EachKeyAnEntrySetsIsItsOwn) {
  Config c = valid(kFullApi + R"(accounts:
  - name: pro
    base_url: https://pro.example.com/
    api_key_env: PRO_KEY
    key_header: X-Pro-Key
    rate_limit: 1000/min
    request_timeout: 30s
    connect_timeout: 4s
    max_concurrent_requests: 64
    threads: 4
  - name: local
    base_url: http://127.0.0.1:8080
    allow_insecure_http: true
    api_key_env: LOCAL_KEY
)");
  ASSERT_EQ(c.accounts.size(), 3u);
  const AccountConfig& pro = c.accounts[1];
  EXPECT_EQ(pro.api.base_url, "https://pro.example.com");  // normalised
  EXPECT_EQ(pro.api.api_key_env, "PRO_KEY");
  EXPECT_EQ(pro.api.key_header, "X-Pro-Key");
  EXPECT_DOUBLE_EQ(pro.api.rate_limit.per_second, 1000.0 / 60);
  EXPECT_EQ(pro.api.request_timeout, 30s);
  EXPECT_EQ(pro.api.connect_timeout, 4s);
  EXPECT_EQ(pro.api.max_concurrent_requests, 64);
  EXPECT_EQ(pro.threads, 4);
  const AccountConfig& local = c.accounts[2];
  EXPECT_EQ(local.api.base_url, "http://127.0.0.1:8080");
  EXPECT_TRUE(local.api.allow_insecure_http);
  EXPECT_EQ(local.threads, 2);  // inherited
  // The default account is untouched.
  EXPECT_EQ(c.accounts[0].api.base_url, "https://api.example.com/v1");
  EXPECT_FALSE(c.api.allow_insecure_http);
  EXPECT_EQ(c.api.key_header, "X-Main-Key");
}

TEST(ConfigAccounts, AccountsMayComeBeforeApi) {
  Config c = valid("accounts:\n  - name: b\n    api_key_env: B_KEY\napi:\n  rate_limit: 2/s\n");
  ASSERT_EQ(c.accounts.size(), 2u);
  EXPECT_DOUBLE_EQ(c.accounts[1].api.rate_limit.per_second, 2.0);
}

TEST(ConfigAccounts, KeySourceIsInheritedWholeOrNotAtAll) {
  const std::string api = "api:\n  api_key_file: /etc/jobwatchd/main.key\n  api_key_env: MAIN\n";
  Config c = valid(api + R"(accounts:
  - name: inherits
  - name: own-env
    api_key_env: B_KEY
  - name: own-file
    api_key_file: keys/c.key
)");
  ASSERT_EQ(c.accounts.size(), 4u);
  EXPECT_EQ(c.accounts[1].api.api_key_file, fs::path("/etc/jobwatchd/main.key"));
  EXPECT_EQ(c.accounts[1].api.api_key_env, "MAIN");
  // Setting the variable drops the inherited file, which would win over it.
  EXPECT_FALSE(c.accounts[2].api.api_key_file.has_value());
  EXPECT_EQ(c.accounts[2].api.api_key_env, "B_KEY");
  // A relative file is anchored at the config's directory, like api's.
  EXPECT_EQ(c.accounts[3].api.api_key_file, fs::path("/etc/jobwatchd/keys/c.key"));
  EXPECT_EQ(c.accounts[3].api.api_key_env, ApiConfig{}.api_key_env);
}

TEST(ConfigAccounts, ACredentialKeyFileIsKeptUnresolvedPerAccount) {
  Config c = valid("accounts:\n  - name: b\n    api_key_file: ${CREDENTIALS_DIRECTORY}/b-key\n");
  EXPECT_EQ(c.accounts[1].api.api_key_file, fs::path("${CREDENTIALS_DIRECTORY}/b-key"));
}

TEST(ConfigAccounts, SharingTheDefaultKeyIsAWarning) {
  ConfigLoad l = load("accounts:\n  - name: b\n  - name: c\n    api_key_env: C_KEY\n");
  ASSERT_TRUE(l.config.has_value()) << allIssues(l);
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0].key, "accounts[0]");
  EXPECT_EQ(l.warnings[0].line, 2);
  EXPECT_THAT(l.warnings[0].message, HasSubstr("same place as `default`"));
}

TEST(ConfigAccounts, ThreadsDefaultAndRange) {
  EXPECT_EQ(valid("api:\n  threads: 16\n").accounts[0].threads, 16);
  EXPECT_EQ(
      valid("accounts:\n  - name: b\n    threads: 1\n    api_key_env: B\n").accounts[1].threads, 1);
  expectOnlyIssue("api:\n  threads: 0\n", "api.threads", 2, "between 1 and 16");
  expectOnlyIssue("api:\n  threads: 17\n", "api.threads", 2, "between 1 and 16");
  expectOnlyIssue("accounts:\n  - name: b\n    api_key_env: B\n    threads: 99\n",
                  "accounts[0].threads", 4, "between 1 and 16");
  expectOnlyIssue("api:\n  threads: two\n", "api.threads", 2, "whole number");
}

TEST(ConfigAccounts, EntryValuesAreValidatedLikeApis) {
  expectOnlyIssue(
      "accounts:\n  - name: b\n    api_key_env: B\n  - name: c\n    api_key_env: C\n"
      "    rate_limit: 100\n",
      "accounts[1].rate_limit", 6, "missing unit");
  expectOnlyIssue("accounts:\n  - name: b\n    request_timeout: 0s\n",
                  "accounts[0].request_timeout", 3, "greater than 0");
  expectOnlyIssue("accounts:\n  - name: b\n    key_header: \"X Key\"\n", "accounts[0].key_header",
                  3, "not a valid HTTP header name");
  expectOnlyIssue("accounts:\n  - name: b\n    max_concurrent_requests: 0\n",
                  "accounts[0].max_concurrent_requests", 3, "between 1 and 1024");
  expectOnlyIssue("accounts:\n  - name: b\n    allow_insecure_http: maybe\n",
                  "accounts[0].allow_insecure_http", 3, "true or false");
  expectOnlyIssue("accounts:\n  - name: b\n    rate_limt: 1/s\n", "accounts[0].rate_limt", 3,
                  "did you mean `rate_limit`");
}

TEST(ConfigAccounts, BaseUrlIsCheckedWithTheAccountsOwnInsecureFlag) {
  expectOnlyIssue("accounts:\n  - name: b\n    base_url: http://10.0.0.1\n", "accounts[0].base_url",
                  3, "https://");
  // Inherited from api: (allowed there), refused by the account's own flag.
  expectOnlyIssue(
      "api:\n  base_url: http://127.0.0.1:9\n  allow_insecure_http: true\naccounts:\n"
      "  - name: b\n    allow_insecure_http: false\n",
      "accounts[0].allow_insecure_http", 6, "inherited from api:");
}

TEST(ConfigAccounts, NameProblemsNameTheLine) {
  expectOnlyIssue("accounts:\n  - api_key_env: B\n", "accounts[0]", 2, "needs a `name`");
  expectOnlyIssue("accounts:\n  - name: Team_B\n", "accounts[0].name", 2,
                  "not a valid account name");
  expectOnlyIssue("accounts:\n  - name: " + std::string(33, 'a') + "\n", "accounts[0].name", 2,
                  "1 to 32 characters");
  expectOnlyIssue("accounts:\n  - name: default\n", "accounts[0].name", 2, "reserved");
  expectOnlyIssue("accounts:\n  - name: [a]\n", "accounts[0].name", 2, "expected an account name");
  expectOnlyIssue(
      "accounts:\n  - name: b\n    api_key_env: B\n  - name: c\n    api_key_env: C\n"
      "  - name: b\n    api_key_env: D\n",
      "accounts[2].name", 6, "duplicate account name `b` (first defined on line 2)");
}

TEST(ConfigAccounts, SectionShapeProblems) {
  expectOnlyIssue("accounts:\n  name: b\n", "accounts", 2, "expected a list of accounts");
  expectOnlyIssue("accounts: b\n", "accounts", 1, "expected a list of accounts");
  expectOnlyIssue("accounts:\n  - b\n", "accounts[0]", 2, "expected an account");
  ConfigLoad twice = load("accounts: []\naccounts: []\n");
  ASSERT_EQ(twice.issues.size(), 1u) << allIssues(twice);
  EXPECT_THAT(twice.issues[0].message, HasSubstr("duplicate key"));
}

TEST(ConfigAccounts, ReadApiKeyNamesTheAccount) {
  testing_support::ScopedEnv unset("JOBWATCH_TEST_ACCOUNT_KEY", nullptr);
  testing_support::ScopedEnv set("JOBWATCH_TEST_ACCOUNT_KEY_SET", "secret-b");
  Config c = valid(
      "api:\n  api_key_env: JOBWATCH_TEST_ACCOUNT_KEY\naccounts:\n  - name: team-b\n"
      "    api_key_env: JOBWATCH_TEST_ACCOUNT_KEY\n  - name: team-c\n"
      "    api_key_env: JOBWATCH_TEST_ACCOUNT_KEY_SET\n");
  auto def = readApiKey(c.accounts[0]);
  ASSERT_FALSE(def.ok());
  EXPECT_EQ(def.error().message, readApiKey(c.api).error().message);
  auto b = readApiKey(c.accounts[1]);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(b.error().message, HasSubstr("account `team-b`: "));
  EXPECT_THAT(b.error().message, HasSubstr("JOBWATCH_TEST_ACCOUNT_KEY"));
  auto cc = readApiKey(c.accounts[2]);
  ASSERT_TRUE(cc.ok()) << cc.error().message;
  EXPECT_EQ(cc.value(), "secret-b");
}

}  // namespace
}  // namespace jobwatch::config
