// SPDX-License-Identifier: Apache-2.0
#include "metrics/metrics_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <prometheus/collectable.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>
#include <string_view>
#include <vector>

#include "metrics/text_exposition.h"

namespace jobwatch::metrics {

namespace {

// One scrape, on a civetweb worker thread. Nothing may throw into civetweb
// (C). The answer is built in a PageBuffer, so its memory goes back to the
// kernel as soon as it is sent instead of staying in this thread's malloc
// arena.
int serveMetrics(mg_connection* connection, void* data) {
  const auto& collectable = *static_cast<const prometheus::Collectable*>(data);
  try {
    PageBuffer body;
    if (const auto* text = dynamic_cast<const TextExposition*>(&collectable)) {
      text->writeText(body);
    } else {
      body.append(prometheus::TextSerializer().Serialize(collectable.Collect()));
    }
    mg_printf(connection,
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
              "Content-Length: %zu\r\n\r\n",
              body.size());
    mg_write(connection, body.data(), body.size());
    return 200;
  } catch (const std::exception& e) {
    mg_send_http_error(connection, 500, "metrics unavailable: %s", e.what());
    return 500;
  }
}

// Headers of every page answer: the page is plain HTML with inline styles
// and shows untrusted text (job fields come from the API), so the browser
// is told to run nothing and load nothing, whatever slips through.
constexpr const char* kPageHeaders =
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "Cache-Control: no-store\r\n";

void sendPage(mg_connection* connection, const PageResponse& page, bool head) {
  const char* reason = mg_get_response_code_text(connection, page.status);
  mg_printf(connection, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n\r\n",
            page.status, reason, page.content_type.c_str(), kPageHeaders, page.body.size());
  if (!head) mg_write(connection, page.body.data(), page.body.size());
}

PageResponse plainPage(int status, std::string text) {
  return {status, "text/plain; charset=utf-8", std::move(text)};
}

// The status page, on a civetweb worker thread. `data` is the server's
// Page, which outlives the server's threads.
template <typename Page>
int servePage(mg_connection* connection, void* data) {
  auto& page = *static_cast<Page*>(data);
  const mg_request_info* request = mg_get_request_info(connection);
  const std::string_view method = request->request_method ? request->request_method : "";
  const bool head = method == "HEAD";
  PageResponse answer;
  if (std::string_view(request->local_uri ? request->local_uri : "") != "/") {
    answer = plainPage(404, "not found: the status page is at /, the metrics at /metrics\n");
  } else if (method != "GET" && !head) {
    answer = plainPage(405, "the status page only answers GET and HEAD\n");
  } else if (page.in_progress.fetch_add(1) >= MetricsServer::kMaxPagesAtOnce) {
    page.in_progress.fetch_sub(1);
    answer = plainPage(503, "busy: too many status pages being made at once; try again\n");
  } else {
    try {
      answer = page.provider(request->query_string ? request->query_string : "");
    } catch (const std::exception& e) {
      answer = plainPage(500, std::string("status page unavailable: ") + e.what() + "\n");
    }
    page.in_progress.fetch_sub(1);
  }
  sendPage(connection, answer, head);
  return answer.status;
}

struct ListenAddress {
  std::string host;  // without brackets
  int port = 0;
  bool ipv6 = false;
};

// "host:port", "[v6]:port". The host is required: listening on every
// interface must be asked for explicitly (0.0.0.0 or [::]).
std::optional<ListenAddress> parseListen(std::string_view text) {
  ListenAddress out;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    out.ipv6 = true;
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || port_text.empty() || port_text.size() > 5) return std::nullopt;
  for (const char c : out.host) {
    // Hostnames, IPv4 and IPv6 literals; nothing civetweb would read as an option.
    const bool fine = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '-' || c == '_' || (out.ipv6 && c == ':');
    if (!fine) return std::nullopt;
  }
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || out.port < 0 ||
      out.port > 65535) {
    return std::nullopt;
  }
  return out;
}

std::string hostForUrl(const ListenAddress& address) {
  if (!address.ipv6) return address.host;
  std::string out = "[";
  out.append(address.host).append("]");
  return out;
}

// civetweb reports every start failure as "null context ... Possible problem
// binding to port". Binding a plain socket to the same address tells the
// operator what really went wrong (address in use, permission denied, no
// such address); nullopt when that bind works or the host is not numeric.
std::optional<std::string> bindFailureReason(const ListenAddress& address) {
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  sockaddr* sa = nullptr;
  socklen_t len = 0;
  if (!address.ipv6 && ::inet_pton(AF_INET, address.host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(static_cast<uint16_t>(address.port));
    sa = reinterpret_cast<sockaddr*>(&v4);
    len = sizeof v4;
  } else if (address.ipv6 && ::inet_pton(AF_INET6, address.host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(static_cast<uint16_t>(address.port));
    sa = reinterpret_cast<sockaddr*>(&v6);
    len = sizeof v6;
  } else {
    return std::nullopt;
  }
  const int fd = ::socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string(std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // as civetweb does
  std::optional<std::string> reason;
  if (::bind(fd, sa, len) != 0 || ::listen(fd, 1) != 0) reason = std::strerror(errno);
  ::close(fd);
  return reason;
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(
    const std::string& listen, std::shared_ptr<prometheus::Collectable> collectable,
    PageProvider page) {
  const auto address = parseListen(listen);
  if (!address) {
    return Error{"invalid metrics listen address \"" + listen +
                 "\": expected host:port, e.g. 127.0.0.1:9464 or [::1]:9464"};
  }
  // localhost is resolved here: civetweb only takes numeric addresses.
  ListenAddress bind = *address;
  if (bind.host == "localhost") bind.host = "127.0.0.1";
  const std::string bind_text = hostForUrl(bind) + ":" + std::to_string(bind.port);

  if (bind.ipv6 && mg_check_feature(MG_FEATURES_IPV6) == 0) {
    return Error{"cannot listen on " + listen +
                 ": IPv6 addresses are not supported by this build's HTTP server (civetweb "
                 "without IPv6); use an IPv4 address such as 127.0.0.1:" +
                 std::to_string(bind.port)};
  }

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->collectable_ = std::move(collectable);
  if (page) {
    server->page_ = std::make_unique<Page>();
    server->page_->provider = std::move(page);
  }
  // Worker threads and how long one connection may hold one: a client
  // that connects and sends nothing (or trickles) frees its worker after
  // request_timeout_ms, so a flood of held connections delays scrapes by
  // about (held / num_threads) x timeout instead of blocking them for as
  // long as it lasts: measured with tests/bench/held_connections.py, 300
  // held connections -> a scrape takes ~6 s, inside Prometheus's default
  // 10 s scrape timeout (README: Metrics under load). Polling and hooks
  // never wait for this server.
  const char* options[] = {"listening_ports",
                           bind_text.c_str(),
                           "num_threads",
                           "32",
                           "request_timeout_ms",
                           "1000",
                           nullptr};
  mg_callbacks callbacks{};
  server->context_ = mg_start(&callbacks, nullptr, options);
  if (server->context_ == nullptr) {
    const auto reason = bindFailureReason(bind);
    return Error{"cannot listen on " + listen + ": " +
                 (reason ? *reason : std::string("the HTTP server did not start"))};
  }
  mg_server_port ports[4] = {};
  const int count = mg_get_server_ports(server->context_, 4, ports);
  if (count <= 0) return Error{"cannot listen on " + listen + ": no listening port"};
  mg_set_request_handler(server->context_, "/metrics", serveMetrics, server->collectable_.get());
  if (server->page_) {
    // "/" matches every path /metrics does not; servePage answers only "/".
    mg_set_request_handler(server->context_, "/", servePage<Page>, server->page_.get());
  }
  server->host_ = hostForUrl(*address);
  server->port_ = ports[0].port;
  return server;
}

MetricsServer::MetricsServer() { mg_init_library(0); }

MetricsServer::~MetricsServer() {
  if (context_ != nullptr) mg_stop(context_);
  mg_exit_library();
}

std::string MetricsServer::url() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/metrics";
}

std::string MetricsServer::pageUrl() const {
  return "http://" + host_ + ":" + std::to_string(port_) + "/";
}

}  // namespace jobwatch::metrics
