// SPDX-License-Identifier: Apache-2.0
// A scripted HttpTransport: records started requests; the test answers them.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "api/http_transport.h"

namespace jobwatch::testing {

inline api::HttpResponse jsonResponse(long status, std::string body,
                                      std::optional<std::chrono::seconds> retry_after = {}) {
  api::HttpResponse r;
  r.outcome = api::TransportOutcome::kCompleted;
  r.status = status;
  r.body = std::move(body);
  r.body.reserve(r.body.size() + 64);
  r.retry_after = retry_after;
  return r;
}

inline api::HttpResponse failedResponse(api::TransportOutcome outcome) {
  api::HttpResponse r;
  r.outcome = outcome;
  r.detail = "scripted failure";
  return r;
}

class FakeTransport final : public api::HttpTransport {
 public:
  void start(api::HttpRequest request) override {
    started.push_back(request);
    open.push_back(std::move(request));
  }
  size_t inFlight() const override { return open.size(); }
  void run(std::chrono::milliseconds, std::vector<api::HttpResponse>& finished) override {
    for (auto& r : ready) finished.push_back(std::move(r));
    ready.clear();
  }
  void wake() override {}

  // Answers every open request with answer(job id).
  void answerAll(const std::function<api::HttpResponse(const std::string& id)>& answer) {
    while (!open.empty()) {
      api::HttpRequest req = std::move(open.front());
      open.pop_front();
      api::HttpResponse r = answer(idOf(req.url));
      r.tag = req.tag;
      ready.push_back(std::move(r));
    }
  }

  static std::string idOf(const std::string& url) { return url.substr(url.rfind('/') + 1); }

  size_t startedFor(const std::string& id) const {
    size_t n = 0;
    for (const auto& r : started) n += idOf(r.url) == id;
    return n;
  }

  std::vector<api::HttpRequest> started;
  std::deque<api::HttpRequest> open;
  std::vector<api::HttpResponse> ready;
};

}  // namespace jobwatch::testing
