// SPDX-License-Identifier: Apache-2.0
#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <sstream>

#include "metrics/daemon_metrics.h"
#include "metrics_test_util.h"

namespace jobwatch::metrics {
namespace {

using testing::httpGet;

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK); }
  void TearDown() override { curl_global_cleanup(); }
};
[[maybe_unused]] ::testing::Environment* const kCurl =
    ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

class MetricsServerTest : public ::testing::Test {
 protected:
  MetricsServerTest() {
    MetricsOptions options;
    options.statuses = {"unknown", "queued", "completed"};
    options.version = "9.8.7";
    metrics_ = std::make_unique<DaemonMetrics>(std::make_shared<prometheus::Registry>(), options,
                                               clock_, log_);
  }

  ManualClock clock_;
  std::ostringstream log_out_;
  Log log_{LogFormat::kText, LogLevel::kInfo, log_out_};
  std::unique_ptr<DaemonMetrics> metrics_;
};

TEST_F(MetricsServerTest, ServesTheMetricsOverHttpOnAFreePort) {
  auto server = MetricsServer::start("127.0.0.1:0", metrics_->collectable());
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int port = (*server)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ((*server)->url(), "http://127.0.0.1:" + std::to_string(port) + "/metrics");

  status::Job job;
  job.id = "job-1";
  job.status = "queued";
  metrics_->jobWatched(job);

  const auto answer = httpGet((*server)->url());
  ASSERT_EQ(answer.code, CURLE_OK) << curl_easy_strerror(answer.code);
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(answer.body.find("\njobwatch_build_info{version=\"9.8.7\"} 1\n"), std::string::npos)
      << answer.body;
  EXPECT_NE(answer.body.find("\njobwatch_jobs{status=\"queued\"} 1\n"), std::string::npos);
  EXPECT_NE(answer.body.find("jobwatch_job_status{job_id=\"job-1\",status=\"queued\",type=\"\"} 1"),
            std::string::npos);

  const auto gzipped = httpGet((*server)->url(), /*gzip=*/true);  // what Prometheus asks for
  ASSERT_EQ(gzipped.code, CURLE_OK);
  EXPECT_NE(gzipped.body.find("jobwatch_build_info{version=\"9.8.7\"} 1"), std::string::npos);

  EXPECT_EQ(httpGet("http://127.0.0.1:" + std::to_string(port) + "/other").status, 404);
}

TEST_F(MetricsServerTest, LocalhostIsLoopback) {
  auto server = MetricsServer::start("localhost:0", metrics_->collectable());
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ((*server)->url(), "http://localhost:" + std::to_string((*server)->port()) + "/metrics");
  EXPECT_EQ(httpGet("http://127.0.0.1:" + std::to_string((*server)->port()) + "/metrics").status,
            200);
}

TEST_F(MetricsServerTest, Ipv6LoopbackWorksOrSaysWhyNot) {
  auto server = MetricsServer::start("[::1]:0", metrics_->collectable());
  if (!server.ok()) {
    // Debian 12's civetweb is built without IPv6: the error must say so.
    EXPECT_EQ(server.error().message,
              "cannot listen on [::1]:0: IPv6 addresses are not supported by this build's HTTP "
              "server (civetweb without IPv6); use an IPv4 address such as 127.0.0.1:0");
    return;
  }
  const int port = (*server)->port();
  EXPECT_EQ((*server)->url(), "http://[::1]:" + std::to_string(port) + "/metrics");
  const auto answer = httpGet((*server)->url());
  ASSERT_EQ(answer.code, CURLE_OK) << curl_easy_strerror(answer.code);
  EXPECT_NE(answer.body.find("jobwatch_build_info"), std::string::npos);
}

TEST_F(MetricsServerTest, APortInUseIsAnErrorNamingTheAddress) {
  // Someone else holds a port: a plain listening socket.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  auto server = MetricsServer::start(listen, metrics_->collectable());
  ::close(fd);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message, "cannot listen on " + listen + ": Address already in use");

  // And so is our own second server on the same port.
  auto first = MetricsServer::start("127.0.0.1:0", metrics_->collectable());
  ASSERT_TRUE(first.ok()) << first.error().message;
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = MetricsServer::start(taken, metrics_->collectable());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message, "cannot listen on " + taken + ": Address already in use");

  // A foreign address: the kernel's reason, not civetweb's guess.
  auto foreign = MetricsServer::start("192.0.2.1:0", metrics_->collectable());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().message,
            "cannot listen on 192.0.2.1:0: Cannot assign requested address");
}

TEST_F(MetricsServerTest, MalformedAddressesAreRefusedBeforeBinding) {
  for (const char* bad :
       {"", "127.0.0.1", ":9464", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:12ab", "[::1]9464",
        "[::1]", "::1:9464", "host name:80", "127.0.0.1:80,127.0.0.1:81", "127.0.0.1:-1"}) {
    auto server = MetricsServer::start(bad, metrics_->collectable());
    ASSERT_FALSE(server.ok()) << bad;
    EXPECT_NE(server.error().message.find(std::string("\"") + bad + "\""), std::string::npos)
        << server.error().message;
  }
}

// Prints what a whole scrape over HTTP costs at 100k per-job series (plain
// and gzip, as Prometheus asks). Informational, like the collect benchmark.
TEST_F(MetricsServerTest, HttpScrapeCostAtOneHundredThousandJobs) {
  constexpr int kJobs = 100'000;
  for (int i = 0; i < kJobs; ++i) {
    status::Job job;
    char id[40];
    std::snprintf(id, sizeof id, "b2094b38-e432-44b6-a5d0-%012d", i);
    job.id = id;
    job.status = i % 3 == 0 ? "processing" : "completed";
    job.facts.type = "extraction";
    job.added_at = WallTime(std::chrono::seconds(1'700'000'000 + i));
    metrics_->jobWatched(job);
  }
  auto server = MetricsServer::start("127.0.0.1:0", metrics_->collectable());
  ASSERT_TRUE(server.ok()) << server.error().message;
  for (const bool gzip : {false, true}) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto answer = httpGet((*server)->url(), gzip);
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_EQ(answer.code, CURLE_OK);
    std::printf("[ scrape ] HTTP%s, %d jobs: %.1f ms, %zu bytes decoded\n", gzip ? " gzip" : "",
                kJobs, std::chrono::duration<double, std::milli>(t1 - t0).count(),
                answer.body.size());
  }
}

}  // namespace
}  // namespace jobwatch::metrics
