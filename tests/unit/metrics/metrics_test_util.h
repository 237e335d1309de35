// SPDX-License-Identifier: Apache-2.0
// Helpers for the metrics tests: read values out of collected families the
// way Prometheus would see them, and fetch a URL with libcurl.
#pragma once

#include <curl/curl.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jobwatch::metrics::testing {

using LabelMap = std::map<std::string, std::string>;

class Scrape {
 public:
  explicit Scrape(const prometheus::Collectable& c) : families_(c.Collect()) {}

  const prometheus::MetricFamily* family(const std::string& name) const {
    for (const auto& f : families_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  // The series whose label set is exactly `labels`.
  const prometheus::ClientMetric* series(const std::string& name, const LabelMap& labels) const {
    const auto* f = family(name);
    if (!f) return nullptr;
    for (const auto& m : f->metric) {
      LabelMap have;
      for (const auto& l : m.label) have[l.name] = l.value;
      if (have == labels) return &m;
    }
    return nullptr;
  }

  // Counter or gauge value; nullopt when the series is absent.
  std::optional<double> value(const std::string& name, const LabelMap& labels = {}) const {
    const auto* f = family(name);
    const auto* m = series(name, labels);
    if (!f || !m) return std::nullopt;
    switch (f->type) {
      case prometheus::MetricType::Counter:
        return m->counter.value;
      case prometheus::MetricType::Gauge:
        return m->gauge.value;
      default:
        return std::nullopt;
    }
  }

  std::optional<std::uint64_t> histogramCount(const std::string& name,
                                              const LabelMap& labels = {}) const {
    const auto* m = series(name, labels);
    if (!m) return std::nullopt;
    return m->histogram.sample_count;
  }

  size_t seriesCount(const std::string& name) const {
    const auto* f = family(name);
    return f ? f->metric.size() : 0;
  }

 private:
  std::vector<prometheus::MetricFamily> families_;
};

struct HttpAnswer {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
};

inline HttpAnswer httpGet(const std::string& url, bool gzip = false) {
  HttpAnswer answer;
  CURL* curl = curl_easy_init();
  if (!curl) {
    answer.code = CURLE_FAILED_INIT;
    return answer;
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 20000L);
  if (gzip) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "gzip");
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t n, void* out) -> size_t {
        static_cast<std::string*>(out)->append(data, size * n);
        return size * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  answer.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_easy_cleanup(curl);
  return answer;
}

}  // namespace jobwatch::metrics::testing
