// SPDX-License-Identifier: Apache-2.0
// CurlMultiTransport: HttpTransport over one libcurl multi handle.
//
// libcurl's connection cache cannot be shared between threads, so one
// thread drives everything: the multi handle owns the keep-alive pool and
// easy handles are pooled and reused. Redirects are not followed, only
// http/https are allowed, bodies are capped at kMaxBodyBytes in the write
// callback (CURLOPT_MAXFILESIZE is unreliable in curl 7.88), and a body
// trickling below a low-speed limit times out. Never enables
// CURLOPT_VERBOSE (it would print the API key header).
//
// curl_global_init must have been called (main does it) before construction.
//
// Thread-safety: see HttpTransport; wake() is the only cross-thread call.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "api/http_transport.h"

namespace jobwatch::api {

struct CurlTransportOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{10000};
  bool allow_http = false;  // plain http:// only when the config allows it
  // Extra request headers as "Name: value" (the API key header among them).
  std::vector<std::string> headers;
  // Upper bound of simultaneous transfers (and kept-alive connections).
  int max_connections = 32;
  std::string user_agent = "jobwatchd";
};

class CurlMultiTransport final : public HttpTransport {
 public:
  explicit CurlMultiTransport(CurlTransportOptions options);
  ~CurlMultiTransport() override;
  CurlMultiTransport(const CurlMultiTransport&) = delete;
  CurlMultiTransport& operator=(const CurlMultiTransport&) = delete;

  // New options (key header, timeouts, protocols, connection limit) for
  // requests started from now on; requests in flight finish as they began.
  // Same thread as start().
  void reconfigure(CurlTransportOptions options);

  void start(HttpRequest request) override;
  size_t inFlight() const override;
  void run(std::chrono::milliseconds max_wait, std::vector<HttpResponse>& finished) override;
  void wake() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// libcurl's process-wide initialisation, held by main() for the life of the
// process. Construct it before any thread starts (FACTS.md). Exits with the
// runtime-failure code when libcurl cannot initialise (broken TLS setup).
class CurlGlobal {
 public:
  CurlGlobal();
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

}  // namespace jobwatch::api
