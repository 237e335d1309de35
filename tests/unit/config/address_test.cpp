// SPDX-License-Identifier: Apache-2.0
// Hosts and ports, metrics.listen and api.base_url, checked directly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/base_url.h"
#include "config/host_port.h"
#include "config/listen_address.h"

namespace jobwatch::config {
namespace {

using ::testing::HasSubstr;

TEST(SplitHostPort, HostsPortsAndBrackets) {
  auto plain = splitHostPort("example.com:8443");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "example.com");
  EXPECT_EQ(plain->port, "8443");
  auto v6 = splitHostPort("[::1]");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "");
  EXPECT_THAT(splitHostPort("::1:80").error().message, HasSubstr("brackets"));
  EXPECT_THAT(splitHostPort("[::1").error().message, HasSubstr("unclosed"));
  EXPECT_THAT(splitHostPort("host:70000").error().message, HasSubstr("invalid port"));
  EXPECT_THAT(splitHostPort(":80").error().message, HasSubstr("missing host"));
}

TEST(LoopbackHost, LocalhostV6LoopbackAnd127Block) {
  EXPECT_TRUE(isLoopbackHost("LocalHost"));
  EXPECT_TRUE(isLoopbackHost("::1"));
  EXPECT_TRUE(isLoopbackHost("127.0.0.2"));
  EXPECT_FALSE(isLoopbackHost("127.example.com"));
  EXPECT_FALSE(isLoopbackHost("0.0.0.0"));
}

TEST(ParseListen, NeedsAPortAndAnAddressOrLocalhost) {
  ASSERT_TRUE(parseListen("127.0.0.1:9464").ok());
  EXPECT_TRUE(parseListen("127.0.0.1:9464")->loopback);
  EXPECT_FALSE(parseListen("0.0.0.0:9464")->loopback);
  EXPECT_TRUE(parseListen("[::1]:0")->loopback);
  EXPECT_THAT(parseListen("127.0.0.1").error().message, HasSubstr("missing port"));
  EXPECT_THAT(parseListen("metrics.example:9464").error().message, HasSubstr("must be an IPv4"));
}

TEST(CheckBaseUrl, NormalisesAndTellsLoopback) {
  auto url = checkBaseUrl("HTTPS://api.example.com/v1//", false);
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->url, "https://api.example.com/v1");
  EXPECT_FALSE(url->loopback);
  EXPECT_FALSE(url->warning.has_value());

  auto local = checkBaseUrl("http://127.0.0.1:8080", true);
  ASSERT_TRUE(local.ok()) << local.error().message;
  EXPECT_TRUE(local->loopback);
  EXPECT_FALSE(local->warning.has_value());

  auto remote = checkBaseUrl("http://api.example.com", true);
  ASSERT_TRUE(remote.ok()) << remote.error().message;
  EXPECT_THAT(remote->warning.value_or(""), HasSubstr("clear text"));
}

TEST(CheckBaseUrl, RefusesWhatCannotPrefixAJobPath) {
  EXPECT_THAT(checkBaseUrl("http://127.0.0.1", false).error().message,
              HasSubstr("allow_insecure_http"));
  EXPECT_THAT(checkBaseUrl("ftp://x", true).error().message, HasSubstr("must start with https"));
  EXPECT_THAT(checkBaseUrl("https://a b", false).error().message, HasSubstr("spaces"));
  EXPECT_THAT(checkBaseUrl("https://x/?q", false).error().message, HasSubstr("query"));
  EXPECT_THAT(checkBaseUrl("https://u:p@x", false).error().message, HasSubstr("user info"));
  EXPECT_THAT(checkBaseUrl("https://x:0", false).error().message, HasSubstr("invalid port 0"));
  EXPECT_THAT(checkBaseUrl("https://x!y", false).error().message, HasSubstr("invalid host"));
}

}  // namespace
}  // namespace jobwatch::config
