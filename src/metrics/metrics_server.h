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
// Destruction stops the server and may take up to 2 s: civetweb's accept
// loop notices the stop request only at its 2 s poll timeout.
//
// Thread-safety: construct and destroy on one thread; the server runs its
// own threads.
#pragma once

#include <memory>
#include <string>

#include "util/result.h"

struct mg_context;

namespace prometheus {
class Collectable;
}  // namespace prometheus

namespace jobwatch::metrics {

class MetricsServer {
 public:
  // Fails with a message naming the address when it cannot bind.
  [[nodiscard]] static Result<std::unique_ptr<MetricsServer>> start(
      const std::string& listen, std::shared_ptr<prometheus::Collectable> collectable);
  ~MetricsServer();

  int port() const { return port_; }
  // e.g. "http://127.0.0.1:9464/metrics"
  std::string url() const;

 public:
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

 private:
  MetricsServer();
  // The request handler reads it; the destructor stops the server first.
  std::shared_ptr<prometheus::Collectable> collectable_;
  mg_context* context_ = nullptr;
  std::string host_;
  int port_ = 0;
};

}  // namespace jobwatch::metrics
