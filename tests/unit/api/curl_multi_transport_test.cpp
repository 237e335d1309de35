// SPDX-License-Identifier: Apache-2.0
// CurlMultiTransport against a real HTTP/1.1 server on 127.0.0.1:0, written
// here so the test sees exactly what arrived on the wire: how many
// connections were accepted, which paths were requested, which headers.
#include "api/curl_multi_transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace jobwatch::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

class CurlEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    // What main does: the transport assumes both.
    std::signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    // Loopback requests must not wander off to a proxy from the environment.
    for (const char* name :
         {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
      unsetenv(name);
    }
  }
  void TearDown() override { curl_global_cleanup(); }
};

[[maybe_unused]] const auto* const kCurlEnvironment =
    ::testing::AddGlobalTestEnvironment(new CurlEnvironment);

struct SeenRequest {
  std::string path;
  std::string head;  // request line and headers as received
};

// A small threaded HTTP/1.1 keep-alive server with canned responses by path:
//   /jobs/<id>        200 {"id":"<id>","status":"queued"}
//   /exact-limit      200 with a body of exactly kMaxBodyBytes
//   /big-length       200, Content-Length over 1 MiB
//   /big-chunked      200, chunked, over 1 MiB in total
//   /redirect         302 to /target
//   /retry-after      429 with Retry-After: 7
//   /hang             reads the request, never answers
//   /slow             200, 30 bytes, one every 100 ms (3 s in all, steadily)
//   /stall            200, Content-Length 100, 5 bytes, then nothing
//   anything else     404
class LoopbackServer {
 public:
  LoopbackServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) std::abort();
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) std::abort();
    if (listen(listen_fd_, 128) != 0) std::abort();
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::jthread([this] { acceptLoop(); });
  }

  ~LoopbackServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    std::vector<std::jthread> connections;
    {
      std::lock_guard lock(mu_);
      for (int fd : connection_fds_) shutdown(fd, SHUT_RDWR);
      connections = std::move(connections_);
    }
    connections.clear();  // joins
    for (int fd : connection_fds_) close(fd);
    close(listen_fd_);
  }

  int port() const { return port_; }
  std::string url(std::string_view path, std::string_view scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  int acceptedConnections() const { return accepted_.load(); }

  std::vector<SeenRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  int hits(std::string_view path) const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& r : requests_) n += r.path == path ? 1 : 0;
    return n;
  }
  // Waits (bounded) until `path` has been requested `n` times.
  bool waitForHits(std::string_view path, int n, std::chrono::milliseconds bound) const {
    std::unique_lock lock(mu_);
    return seen_.wait_for(lock, bound, [&] {
      int count = 0;
      for (const auto& r : requests_) count += r.path == path ? 1 : 0;
      return count >= n;
    });
  }

 private:
  void acceptLoop() {
    while (!stopping_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_ || errno == EINVAL || errno == EBADF) return;
        continue;
      }
      ++accepted_;
      std::lock_guard lock(mu_);
      connection_fds_.push_back(fd);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static bool sendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  static std::string okHead(size_t length) {
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(length) + "\r\n\r\n";
  }

  // Serves one connection until the peer closes it; false ends it early.
  void serve(int fd) {
    std::string buffer;
    char chunk[4096];
    while (true) {
      size_t end = buffer.find("\r\n\r\n");
      if (end == std::string::npos) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return;
        buffer.append(chunk, static_cast<size_t>(n));
        continue;
      }
      SeenRequest request;
      request.head = buffer.substr(0, end + 2);
      buffer.erase(0, end + 4);
      size_t sp1 = request.head.find(' ');
      size_t sp2 = request.head.find(' ', sp1 + 1);
      request.path = request.head.substr(sp1 + 1, sp2 - sp1 - 1);
      const std::string path = request.path;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(request));
      }
      seen_.notify_all();
      if (!respond(fd, path)) return;
    }
  }

  bool respond(int fd, const std::string& path) {
    if (path.rfind("/jobs/", 0) == 0) {
      std::string body = R"({"id":")" + path.substr(6) + R"(","status":"queued"})";
      return sendAll(fd, okHead(body.size()) + body);
    }
    if (path == "/exact-limit") {
      return sendAll(fd, okHead(kMaxBodyBytes) + std::string(kMaxBodyBytes, ' '));
    }
    if (path == "/big-length") {
      const size_t size = kMaxBodyBytes + 4096;
      return sendAll(fd, okHead(size)) && sendAll(fd, std::string(size, ' '));
    }
    if (path == "/big-chunked") {
      if (!sendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return false;
      const std::string piece(64 * 1024, ' ');
      char size_line[32];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
      for (size_t sent = 0; sent <= kMaxBodyBytes; sent += piece.size()) {
        if (!sendAll(fd, std::string(size_line) + piece + "\r\n")) return false;
      }
      return sendAll(fd, "0\r\n\r\n");
    }
    if (path == "/redirect") {
      return sendAll(fd, "HTTP/1.1 302 Found\r\nLocation: /target\r\nContent-Length: 0\r\n\r\n");
    }
    if (path == "/retry-after") {
      return sendAll(fd,
                     "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
                     "Content-Length: 0\r\n\r\n");
    }
    if (path == "/hang") return true;  // keep reading; never answer
    if (path == "/slow") {
      if (!sendAll(fd, okHead(kSlowBytes))) return false;
      for (size_t i = 0; i < kSlowBytes; ++i) {
        std::this_thread::sleep_for(100ms);  // the server's pace, not the test's wait
        if (stopping_ || !sendAll(fd, "x")) return false;
      }
      return true;
    }
    if (path == "/stall") return sendAll(fd, okHead(100) + "[1,2,");  // then nothing
    return sendAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  }

  static constexpr size_t kSlowBytes = 30;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable seen_;
  std::vector<SeenRequest> requests_;      // guarded by mu_
  std::vector<int> connection_fds_;        // guarded by mu_
  std::vector<std::jthread> connections_;  // guarded by mu_
  std::jthread acceptor_;
};

constexpr const char* kSecret = "s3cret-api-key-value-0042";

CurlTransportOptions testOptions() {
  CurlTransportOptions options;
  options.connect_timeout = 2s;
  options.request_timeout = 5s;
  options.allow_http = true;
  options.headers = {std::string("X-API-Key: ") + kSecret};
  options.max_connections = 32;
  options.user_agent = "jobwatchd-test";
  return options;
}

// Runs the transport until `n` responses arrived or a generous bound passed.
std::vector<HttpResponse> collect(HttpTransport& transport, size_t n,
                                  std::chrono::milliseconds bound = 10s) {
  std::vector<HttpResponse> finished;
  const auto deadline = Steady::now() + bound;
  while (finished.size() < n && Steady::now() < deadline) transport.run(100ms, finished);
  return finished;
}

HttpResponse fetchOne(HttpTransport& transport, std::string url, std::uint64_t tag = 1) {
  transport.start(HttpRequest{tag, std::move(url)});
  auto finished = collect(transport, 1);
  if (finished.size() != 1) {
    ADD_FAILURE() << "expected one response, got " << finished.size();
    return {};
  }
  EXPECT_EQ(finished[0].tag, tag);
  return std::move(finished[0]);
}

void expectNoSecret(const HttpResponse& response) {
  EXPECT_THAT(response.detail, Not(HasSubstr(kSecret)));
  EXPECT_THAT(response.detail, Not(HasSubstr("X-API-Key")));
}

// A port on which nothing listens: bound once, then released.
int closedPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(CurlMultiTransport, FetchesAJobAndPadsTheBody) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/jobs/abc"), 42);
  EXPECT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.tag, 42u);
  EXPECT_EQ(r.body, R"({"id":"abc","status":"queued"})");
  EXPECT_GE(r.body.capacity(), r.body.size() + 64);
  EXPECT_EQ(r.retry_after, std::nullopt);
  EXPECT_GT(r.elapsed.count(), 0);
  EXPECT_EQ(transport.inFlight(), 0u);
}

TEST(CurlMultiTransport, SendsConfiguredHeadersButNeverReportsThem) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/jobs/h"));
  ASSERT_EQ(r.outcome, TransportOutcome::kCompleted);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_THAT(requests[0].head, HasSubstr(std::string("X-API-Key: ") + kSecret + "\r\n"));
  EXPECT_THAT(requests[0].head, HasSubstr("Accept: application/json\r\n"));
  EXPECT_THAT(requests[0].head, HasSubstr("User-Agent: jobwatchd-test\r\n"));
  EXPECT_THAT(requests[0].head, HasSubstr("GET /jobs/h HTTP/1.1\r\n"));
  expectNoSecret(r);
}

TEST(CurlMultiTransport, ReusesOneConnectionForSequentialRequests) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = fetchOne(transport, server.url("/jobs/j" + std::to_string(i)), i);
    ASSERT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
    ASSERT_EQ(r.status, 200);
  }
  EXPECT_EQ(server.hits("/jobs/j19"), 1);
  EXPECT_EQ(server.acceptedConnections(), 1);
}

TEST(CurlMultiTransport, ReconfigureAppliesToNewRequestsAndKeepsTheConnection) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  ASSERT_EQ(fetchOne(transport, server.url("/jobs/before")).status, 200);
  CurlTransportOptions rotated = testOptions();
  rotated.headers = {"X-API-Key: rotated-key-0001"};
  transport.reconfigure(rotated);
  ASSERT_EQ(fetchOne(transport, server.url("/jobs/after")).status, 200);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_THAT(requests[0].head, HasSubstr(kSecret));
  EXPECT_THAT(requests[1].head, HasSubstr("X-API-Key: rotated-key-0001\r\n"));
  EXPECT_THAT(requests[1].head, Not(HasSubstr(kSecret)));
  EXPECT_EQ(server.acceptedConnections(), 1) << "a key rotation must not reconnect";
}

TEST(CurlMultiTransport, CompletesConcurrentRequestsWithTheirTags) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  constexpr int kCount = 32;
  for (int i = 0; i < kCount; ++i) {
    transport.start(HttpRequest{static_cast<std::uint64_t>(1000 + i),
                                server.url("/jobs/c" + std::to_string(i))});
  }
  EXPECT_EQ(transport.inFlight(), static_cast<size_t>(kCount));
  auto finished = collect(transport, kCount);
  ASSERT_EQ(finished.size(), static_cast<size_t>(kCount));
  std::set<std::uint64_t> tags;
  for (const auto& r : finished) {
    ASSERT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
    EXPECT_EQ(r.status, 200);
    const int i = static_cast<int>(r.tag) - 1000;
    EXPECT_EQ(r.body, R"({"id":"c)" + std::to_string(i) + R"(","status":"queued"})");
    tags.insert(r.tag);
  }
  EXPECT_EQ(tags.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(transport.inFlight(), 0u);
  EXPECT_LE(server.acceptedConnections(), kCount);

  // A second wave reuses the pooled handles and kept-alive connections.
  const int connections_after_first_wave = server.acceptedConnections();
  for (int i = 0; i < kCount; ++i) {
    transport.start(HttpRequest{static_cast<std::uint64_t>(i), server.url("/jobs/d")});
  }
  auto second = collect(transport, kCount);
  ASSERT_EQ(second.size(), static_cast<size_t>(kCount));
  for (const auto& r : second) EXPECT_EQ(r.status, 200);
  EXPECT_EQ(server.acceptedConnections(), connections_after_first_wave);
}

TEST(CurlMultiTransport, AcceptsABodyOfExactlyTheLimit) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/exact-limit"));
  EXPECT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
  EXPECT_EQ(r.body.size(), kMaxBodyBytes);
  EXPECT_GE(r.body.capacity(), r.body.size() + 64);
}

TEST(CurlMultiTransport, RefusesBodyOverLimitWithContentLength) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/big-length"));
  EXPECT_EQ(r.outcome, TransportOutcome::kBodyTooLarge) << r.detail;
  EXPECT_EQ(r.detail, "body over 1 MiB refused");
  EXPECT_TRUE(r.body.empty());
}

TEST(CurlMultiTransport, RefusesChunkedBodyOverLimit) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/big-chunked"));
  EXPECT_EQ(r.outcome, TransportOutcome::kBodyTooLarge) << r.detail;
  EXPECT_TRUE(r.body.empty());
  // The handle is fine for the next request.
  HttpResponse next = fetchOne(transport, server.url("/jobs/after"));
  EXPECT_EQ(next.outcome, TransportOutcome::kCompleted) << next.detail;
  EXPECT_EQ(next.body, R"({"id":"after","status":"queued"})");
}

TEST(CurlMultiTransport, DoesNotFollowRedirects) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/redirect"));
  EXPECT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
  EXPECT_EQ(r.status, 302);
  // Prove the server would have been asked by now: one more request on the
  // same connection is answered after any follow-up would have been.
  HttpResponse after = fetchOne(transport, server.url("/jobs/x"));
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(server.hits("/target"), 0);
  EXPECT_EQ(server.hits("/redirect"), 1);
}

TEST(CurlMultiTransport, ParsesRetryAfterAndForgetsItOnReuse) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, server.url("/retry-after"));
  EXPECT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, std::chrono::seconds(7));
  HttpResponse next = fetchOne(transport, server.url("/jobs/y"));
  EXPECT_EQ(next.status, 200);
  EXPECT_EQ(next.retry_after, std::nullopt);
}

TEST(CurlMultiTransport, TimesOutAServerThatNeverAnswers) {
  LoopbackServer server;
  CurlTransportOptions options = testOptions();
  options.request_timeout = 300ms;
  CurlMultiTransport transport(options);
  const auto began = Steady::now();
  HttpResponse r = fetchOne(transport, server.url("/hang"));
  const auto took = Steady::now() - began;
  EXPECT_EQ(r.outcome, TransportOutcome::kTimeout) << r.detail;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  EXPECT_GE(r.elapsed, std::chrono::microseconds(250'000));
  EXPECT_FALSE(r.detail.empty());
  expectNoSecret(r);
  EXPECT_EQ(transport.inFlight(), 0u);
}

struct StringSink final : BodySink {
  bool write(const char* data, size_t size) override {
    text.append(data, size);
    return true;
  }
  std::string text;
};

HttpResponse streamOne(HttpTransport& transport, std::string url, BodySink& sink) {
  HttpRequest request{1, std::move(url)};
  request.sink = &sink;
  transport.start(std::move(request));
  auto finished = collect(transport, 1, 15s);
  if (finished.size() != 1) {
    ADD_FAILURE() << "expected one response, got " << finished.size();
    return {};
  }
  return std::move(finished[0]);
}

TEST(CurlMultiTransport, AStreamedDownloadHasNoTotalTimeoutWhileItMoves) {
  LoopbackServer server;
  CurlTransportOptions options = testOptions();
  options.request_timeout = 1s;
  CurlMultiTransport transport(options);
  // A status request is capped as a whole by request_timeout...
  HttpResponse capped = fetchOne(transport, server.url("/slow"));
  EXPECT_EQ(capped.outcome, TransportOutcome::kTimeout) << capped.detail;
  // ... a streamed one (a result) is not: 3 s at 10 bytes/s completes.
  StringSink sink;
  HttpResponse r = streamOne(transport, server.url("/slow"), sink);
  EXPECT_EQ(r.outcome, TransportOutcome::kCompleted) << r.detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sink.text, std::string(30, 'x'));
  EXPECT_GE(r.elapsed, std::chrono::microseconds(2'500'000));
  // The handle serves a status request again with its total cap.
  HttpResponse again = fetchOne(transport, server.url("/slow"));
  EXPECT_EQ(again.outcome, TransportOutcome::kTimeout) << again.detail;
}

TEST(CurlMultiTransport, AStalledStreamedDownloadTimesOut) {
  LoopbackServer server;
  CurlTransportOptions options = testOptions();
  options.request_timeout = 1s;
  CurlMultiTransport transport(options);
  StringSink sink;
  const auto began = Steady::now();
  HttpResponse r = streamOne(transport, server.url("/stall"), sink);
  const auto took = Steady::now() - began;
  EXPECT_EQ(r.outcome, TransportOutcome::kTimeout) << r.detail;
  // curl averages the speed over its last 5 s: the 5 bytes that came at
  // once keep it over 1 byte/s for a few seconds, then 1 s (request_timeout)
  // below it is a stall.
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 10s);
  EXPECT_EQ(sink.text, "[1,2,");
  EXPECT_EQ(transport.inFlight(), 0u);
}

TEST(CurlMultiTransport, ReportsConnectionRefused) {
  CurlMultiTransport transport(testOptions());
  HttpResponse r = fetchOne(transport, "http://127.0.0.1:" + std::to_string(closedPort()) + "/x");
  EXPECT_EQ(r.outcome, TransportOutcome::kNetworkError);
  EXPECT_THAT(r.detail, HasSubstr("connect"));
  expectNoSecret(r);
}

TEST(CurlMultiTransport, RefusesPlainHttpUnlessAllowed) {
  LoopbackServer server;
  CurlTransportOptions options = testOptions();
  options.allow_http = false;
  CurlMultiTransport transport(options);
  HttpResponse r = fetchOne(transport, server.url("/jobs/a"));
  EXPECT_EQ(r.outcome, TransportOutcome::kNetworkError);
  EXPECT_THAT(r.detail, HasSubstr("protocol"));
  expectNoSecret(r);
  EXPECT_EQ(server.acceptedConnections(), 0);
}

TEST(CurlMultiTransport, RefusesOtherSchemes) {
  CurlMultiTransport transport(testOptions());
  for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/x"}) {
    HttpResponse r = fetchOne(transport, url);
    EXPECT_EQ(r.outcome, TransportOutcome::kNetworkError) << url;
    EXPECT_TRUE(r.body.empty()) << url;
  }
}

TEST(CurlMultiTransport, RunWithNothingInFlightWaitsThenReturns) {
  CurlMultiTransport transport(testOptions());
  std::vector<HttpResponse> finished;
  const auto began = Steady::now();
  transport.run(50ms, finished);
  const auto took = Steady::now() - began;
  EXPECT_TRUE(finished.empty());
  EXPECT_GE(took, 40ms);  // waited rather than spinning
  EXPECT_LT(took, 2s);
}

TEST(CurlMultiTransport, WakeBeforeRunIsNotLost) {
  CurlMultiTransport transport(testOptions());
  transport.wake();
  std::vector<HttpResponse> finished;
  const auto began = Steady::now();
  transport.run(30s, finished);
  EXPECT_LT(Steady::now() - began, 5s);
}

TEST(CurlMultiTransport, WakeFromAnotherThreadInterruptsRun) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  transport.start(HttpRequest{5, server.url("/hang")});
  // The request reaches the server only while this thread is inside run(),
  // so waking once it has arrived interrupts a run in progress.
  std::jthread waker([&] {
    if (server.waitForHits("/hang", 1, 20s)) transport.wake();
  });
  std::vector<HttpResponse> finished;
  const auto began = Steady::now();
  transport.run(30s, finished);
  EXPECT_LT(Steady::now() - began, 10s);
  EXPECT_TRUE(finished.empty());
  EXPECT_EQ(transport.inFlight(), 1u);
  waker.join();
  // Destroying the transport with a transfer in flight is clean.
}

TEST(CurlMultiTransport, ReportsFinishedTransferInTheSameRun) {
  LoopbackServer server;
  CurlMultiTransport transport(testOptions());
  transport.start(HttpRequest{1, server.url("/jobs/once")});
  std::vector<HttpResponse> finished;
  // One generous run is enough: it returns as soon as the response is in.
  const auto began = Steady::now();
  transport.run(10s, finished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].status, 200);
  EXPECT_LT(Steady::now() - began, 5s);
}

TEST(CurlMultiTransportDeathTest, RefusesHeaderThatCouldInjectRequestLines) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  CurlTransportOptions options;
  options.headers = {"X-API-Key: abc\r\nHost: evil.example"};
  EXPECT_DEATH({ CurlMultiTransport transport(options); }, "contains CR, LF or NUL");
}

}  // namespace
}  // namespace jobwatch::api
