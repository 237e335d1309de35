// SPDX-License-Identifier: Apache-2.0
// MetricsServer: serves a Collectable at http://{listen}/metrics (civetweb,
// 32 worker threads, 1 s request timeout: see metrics_server.cpp). A Collectable that is also a
// TextExposition (see text_exposition.h; DaemonMetrics' is) writes its text itself; any other is
// served through Collect() and prometheus-cpp's TextSerializer. Answers are
// never compressed: a loopback scrape of 100,000 per-job series is ~20 MB,
// which gzip would cost more CPU to shrink than it saves. `listen` is
// "host:port"; port 0 picks a free port, reported by port(). "localhost"
// means 127.0.0.1.
// "[v6]:port" is parsed, but Debian 12's civetweb has no IPv6: start() then
// fails saying so. A failed bind reports the kernel's reason (e.g. "Address
// already in use"), not civetweb's generic one.
//
//
// Optionally it also serves a page at `/` (the status page): a PageProvider
// called on a civetweb worker thread with the raw query string (without
// '?'), for GET and HEAD of exactly "/" (any other path is 404, any other
// method 405). At most kMaxPagesAtOnce pages are made at once; beyond that
// `/` answers 503, so slow pages never take the workers that serve
// /metrics. Every page answer carries a strict Content-Security-Policy
// (no scripts, no external assets, inline styles only), nosniff, no
// framing and no caching. A provider that throws answers 500.
//
// Destruction stops the server and may take up to 2 s: civetweb's accept
// loop notices the stop request only at its 2 s poll timeout.
//
// Thread-safety: construct and destroy on one thread; the server runs its
// own threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.h"

struct mg_context;

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace jobwatch::metrics {

// One answer of the page at `/`.
struct PageResponse {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
};
// Makes the page for a query string ("" or e.g. "status=completed"); any
// thread.
using PageProvider = std::function<PageResponse(std::string_view query)>;

class MetricsServer {
 public:
  static constexpr int kMaxPagesAtOnce = 4;

  // Fails with a message naming the address when it cannot bind. Without
  // `page`, `/` is 404 as any other unknown path.
  [[nodiscard]] static Result<std::unique_ptr<MetricsServer>> start(
      const std::string& listen, std::shared_ptr<prometheus::Collectable> collectable,
      PageProvider page = {});
  ~MetricsServer();

  int port() const { return port_; }
  // e.g. "http://127.0.0.1:9464/metrics"
  std::string url() const;
  // e.g. "http://127.0.0.1:9464/"
  std::string pageUrl() const;

 public:
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  MetricsServer();
  // The request handler reads it; the destructor stops the server first.
  std::shared_ptr<prometheus::Collectable> collectable_;
  struct Page {
    PageProvider provider;
    std::atomic<int> in_progress{0};
  };
  std::unique_ptr<Page> page_;
  mg_context* context_ = nullptr;
  std::string host_;
  int port_ = 0;
};

}  // namespace jobwatch::metrics
