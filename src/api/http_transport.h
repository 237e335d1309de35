// SPDX-License-Identifier: Apache-2.0
// The HTTP transport seam. The poll engine starts requests and collects
// finished ones; how bytes move is the transport's business. The only
// production implementation is CurlMultiTransport (one curl multi handle,
// connections kept alive and reused); tests use a scripted fake.
//
// Thread-safety: everything except wake() is called from the one thread
// that drives the transport. wake() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jobwatch::api {

inline constexpr size_t kMaxBodyBytes = 1 << 20;  // bodies over 1 MiB are refused

// Where a streamed response body goes (a result file, api/result_file.h).
// Only a 2xx response's body is streamed; any other status keeps its body
// in HttpResponse::body (capped at kMaxBodyBytes) for the error message.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // One chunk, in order. False aborts the transfer (kSinkRefused); the sink
  // knows why (too large, disk full).
  virtual bool write(const char* data, size_t size) = 0;
};

struct HttpRequest {
  std::uint64_t tag = 0;  // caller's handle, returned with the response
  std::string url;        // absolute http(s) URL, already validated
  // Streams a 2xx body here instead of into HttpResponse::body. Owned by the
  // caller; must outlive the exchange (until its response is returned).
  BodySink* sink = nullptr;
  // With a sink: a body announced larger than this is refused up front
  // (kBodyTooLarge); the sink enforces the cap on bodies of unknown length.
  std::uint64_t max_streamed_bytes = 0;
};

// How the exchange ended at the transport level.
enum class TransportOutcome {
  kCompleted,     // a full HTTP response was received (any status code)
  kTimeout,       // connect or request timeout, or a body trickling too slowly
  kNetworkError,  // refused, reset, DNS, TLS, malformed HTTP
  kBodyTooLarge,  // body exceeded kMaxBodyBytes (or max_streamed_bytes); transfer aborted
  kSinkRefused,   // the request's BodySink refused a chunk; transfer aborted
};

struct HttpResponse {
  std::uint64_t tag = 0;
  TransportOutcome outcome = TransportOutcome::kNetworkError;
  long status = 0;  // HTTP status code when kCompleted
  // Body bytes (empty for a 2xx body streamed to a sink). The transport reserves at least 64 spare
  // bytes of capacity beyond size() so the JSON parser can read it without copying.
  std::string body;
  std::optional<std::chrono::seconds> retry_after;  // parsed Retry-After, if any
  std::chrono::microseconds elapsed{0};
  std::string detail;  // transport error text for logs (never contains headers)
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // Begins a GET. The caller never has more than its own concurrency limit
  // in flight; the transport does not queue.
  virtual void start(HttpRequest request) = 0;

  virtual size_t inFlight() const = 0;

  // Performs I/O for up to `max_wait` (returns early on activity or wake()),
  // appending every finished exchange to `finished`.
  virtual void run(std::chrono::milliseconds max_wait, std::vector<HttpResponse>& finished) = 0;

  // Interrupts a run() in progress. Any thread.
  virtual void wake() = 0;
};

}  // namespace jobwatch::api
