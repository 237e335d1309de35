// SPDX-License-Identifier: Apache-2.0
// MetricsServer's optional page at `/`: served by the provider with the
// query, with the security headers; other paths and methods refused; a
// bounded number made at once; /metrics unchanged.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "metrics/daemon_metrics.h"
#include "metrics/metrics_server.h"

namespace jobwatch::metrics {
namespace {

struct Answer {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string headers;
  std::string body;
};

size_t appendTo(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

Answer request(const std::string& url, const char* method = "GET") {
  Answer answer;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  if (std::string_view(method) == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, appendTo);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, appendTo);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.headers);
  answer.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_easy_cleanup(curl);
  return answer;
}

class MetricsServerPageTest : public ::testing::Test {
 protected:
  MetricsServerPageTest() {
    MetricsOptions options;
    options.version = "1.2.3";
    metrics_ = std::make_unique<DaemonMetrics>(std::make_shared<prometheus::Registry>(), options,
                                               clock_, log_);
  }
  ManualClock clock_;
  std::ostringstream log_out_;
  Log log_{LogFormat::kText, LogLevel::kInfo, log_out_};
  std::unique_ptr<DaemonMetrics> metrics_;
};

TEST_F(MetricsServerPageTest, ServesTheProvidersPageWithItsQueryAndStrictHeaders) {
  std::mutex mu;
  std::vector<std::string> queries;
  auto server =
      MetricsServer::start("127.0.0.1:0", metrics_->collectable(), [&](std::string_view query) {
        std::lock_guard lock(mu);
        queries.emplace_back(query);
        return PageResponse{200, "text/html; charset=utf-8", "<p>hello</p>"};
      });
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string base = (*server)->pageUrl();
  EXPECT_EQ(base, "http://127.0.0.1:" + std::to_string((*server)->port()) + "/");

  const Answer page = request(base + "?status=completed&x=%3C");
  ASSERT_EQ(page.code, CURLE_OK);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.body, "<p>hello</p>");
  EXPECT_NE(page.headers.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(page.headers.find("Content-Security-Policy: default-src 'none'; style-src "
                              "'unsafe-inline';"),
            std::string::npos)
      << page.headers;
  EXPECT_NE(page.headers.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos);
  EXPECT_NE(page.headers.find("Cache-Control: no-store\r\n"), std::string::npos);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(queries.size(), 1u);
    EXPECT_EQ(queries[0], "status=completed&x=%3C");  // raw: the provider decodes
  }

  const Answer head = request(base, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(request(base, "POST").status, 405);
  EXPECT_EQ(request(base + "index.html").status, 404);
  EXPECT_EQ(request(base + "jobs?status=x").status, 404);

  // /metrics is untouched.
  const Answer scrape = request((*server)->url());
  EXPECT_EQ(scrape.status, 200);
  EXPECT_NE(scrape.body.find("jobwatch_build_info{version=\"1.2.3\"} 1"), std::string::npos);
  EXPECT_EQ(scrape.headers.find("Content-Security-Policy"), std::string::npos);
}

TEST_F(MetricsServerPageTest, WithoutAProviderSlashIsNotFound) {
  auto server = MetricsServer::start("127.0.0.1:0", metrics_->collectable());
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ(request((*server)->pageUrl()).status, 404);
  EXPECT_EQ(request((*server)->url()).status, 200);
}

TEST_F(MetricsServerPageTest, AProviderThatThrowsIsA500) {
  auto server = MetricsServer::start(
      "127.0.0.1:0", metrics_->collectable(),
      [](std::string_view) -> PageResponse { throw std::runtime_error("no data"); });
  ASSERT_TRUE(server.ok()) << server.error().message;
  const Answer page = request((*server)->pageUrl());
  EXPECT_EQ(page.status, 500);
  EXPECT_NE(page.body.find("no data"), std::string::npos);
}

TEST_F(MetricsServerPageTest, SlowPagesAreBoundedAndMetricsStillAnswer) {
  // Every page blocks until released: once kMaxPagesAtOnce are being made,
  // the next is refused at once and a scrape still works.
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0;
  bool release = false;
  auto server = MetricsServer::start("127.0.0.1:0", metrics_->collectable(), [&](std::string_view) {
    std::unique_lock lock(mu);
    ++inside;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return PageResponse{200, "text/plain", "slow"};
  });
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string url = (*server)->pageUrl();
  std::vector<std::future<Answer>> slow;
  for (int i = 0; i < MetricsServer::kMaxPagesAtOnce; ++i) {
    slow.push_back(std::async(std::launch::async, [url] { return request(url); }));
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20),
                            [&] { return inside == MetricsServer::kMaxPagesAtOnce; }));
  }
  EXPECT_EQ(request(url).status, 503);
  EXPECT_EQ(request((*server)->url()).status, 200);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& answer : slow) EXPECT_EQ(answer.get().body, "slow");
  EXPECT_EQ(request(url).status, 200);
}

}  // namespace
}  // namespace jobwatch::metrics
