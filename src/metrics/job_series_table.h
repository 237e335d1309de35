// SPDX-License-Identifier: Apache-2.0
// JobSeriesTable: the per-job series jobwatch_job_status{job_id,status,type}
// and jobwatch_job_added_timestamp_seconds{job_id}, kept in our own table
// rather than prometheus-cpp families (Family::Remove is a linear scan).
// Internal to metrics/ (DaemonMetrics owns one).
//
// Thread-safety: every method may be called from any thread; one internal
// mutex.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "metrics/text_exposition.h"
#include "status/job_facts.h"
#include "util/clock.h"

namespace jobwatch::metrics {

inline double unixSeconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Appends a label value as the text format wants it: \ " and newline
// escaped (status and type come from the API).
inline void appendLabelValue(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// A sample value as prometheus::TextSerializer writes it (16 significant
// digits; our values are never NaN or infinite).
inline void appendValue(std::string& out, double value) {
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%.16g", value);
  out.append(text, static_cast<size_t>(n));
}

inline constexpr std::string_view kStatusName = "jobwatch_job_status";
inline constexpr std::string_view kStatusHelp =
    "One series per watched job (value 1) with its current status and type; "
    "absent for jobs beyond metrics.per_job_limit.";
inline constexpr std::string_view kAddedName = "jobwatch_job_added_timestamp_seconds";
inline constexpr std::string_view kAddedHelp =
    "Unix time each unfinished watched job was added to the watch list; time() minus "
    "this is its age.";

// The per-job series: one entry per watched job, O(1) to add, change and
// remove, rendered at scrape time. Shown entries are kept dense (a vector
// plus an index; removal swaps the last entry in) so a scrape walks
// contiguous memory. At most `limit` entries are shown; jobs beyond the
// limit wait in `waiting_` (their status kept current) and take a free place
// as soon as a shown job leaves, so the shown set never churns.
//
// Memory per job matters at 100,000 jobs (tests/bench/README.md): the ID is
// stored once (the index holds positions and hashes the ID it points at),
// and status and type words, shared by thousands of jobs, are interned and
// reference-counted (a word no job uses any more is dropped).
class JobSeriesTable {
 public:
  JobSeriesTable(std::uint64_t limit, prometheus::Gauge& capped) : limit_(limit), capped_(capped) {}

  // Adds or updates a job. Returns true when this call had to leave the job
  // without a series because of the limit.
  bool upsert(const status::Job& job) {
    const std::lock_guard lock(mu_);
    if (auto it = index_.find(std::string_view(job.id)); it != index_.end()) {
      assign(shown_[*it], job);
      return false;
    }
    if (auto it = waiting_.find(job.id); it != waiting_.end()) {
      assign(it->second, job);
      return false;
    }
    Series series;
    series.id = job.id;
    assign(series, job);
    if (shown_.size() < limit_) {
      show(std::move(series));
      return false;
    }
    waiting_.emplace(job.id, std::move(series));
    capped_.Set(1);
    return true;
  }

  void remove(const std::string& job_id) {
    const std::lock_guard lock(mu_);
    if (auto it = index_.find(std::string_view(job_id)); it != index_.end()) {
      const size_t pos = *it;
      const size_t last = shown_.size() - 1;
      index_.erase(it);
      release(shown_[pos]);
      if (pos != last) {
        // The last entry moves into the hole; its index node follows it.
        auto node = index_.extract(index_.find(std::string_view(shown_[last].id)));
        shown_[pos] = std::move(shown_[last]);
        node.value() = pos;
        index_.insert(std::move(node));
      }
      shown_.pop_back();
      if (!waiting_.empty()) {
        auto node = waiting_.extract(waiting_.begin());
        show(std::move(node.mapped()));
      }
    } else if (auto waiting = waiting_.find(job_id); waiting != waiting_.end()) {
      release(waiting->second);
      waiting_.erase(waiting);
    }
    capped_.Set(waiting_.empty() ? 0 : 1);
  }

  // Appends jobwatch_job_status and, for jobs not yet terminal,
  // jobwatch_job_added_timestamp_seconds (only the unfinished jobs have an
  // age worth showing; leaving out the finished ones halves a large scrape).
  // Runs under the lock: the families are one consistent snapshot.
  void render(std::vector<prometheus::MetricFamily>& out) const {
    const std::lock_guard lock(mu_);
    if (shown_.empty()) return;
    prometheus::MetricFamily status;
    status.name = kStatusName;
    status.help = kStatusHelp;
    status.type = prometheus::MetricType::Gauge;
    status.metric.resize(shown_.size());
    prometheus::MetricFamily added;
    added.name = kAddedName;
    added.help = kAddedHelp;
    added.type = prometheus::MetricType::Gauge;
    added.metric.reserve(shown_.size());  // untouched capacity costs no pages

    for (size_t i = 0; i < shown_.size(); ++i) {
      const Series& series = shown_[i];
      prometheus::ClientMetric& m = status.metric[i];
      m.label.resize(3);
      m.label[0].name = "job_id";
      m.label[0].value = series.id;
      m.label[1].name = "status";
      m.label[1].value = *series.status;
      m.label[2].name = "type";
      m.label[2].value = *series.type;
      m.gauge.value = 1;
      if (showsAge(series)) {
        prometheus::ClientMetric& a = added.metric.emplace_back();
        a.label.resize(1);
        a.label[0].name = "job_id";
        a.label[0].value = series.id;
        a.gauge.value = series.added_at;
      }
    }
    out.push_back(std::move(status));
    if (!added.metric.empty()) out.push_back(std::move(added));
  }

  // The same two families as render(), written as text directly: no object
  // per series. Also under the lock (a snapshot); ~25 ms at 100,000 jobs.
  void writeText(PageBuffer& out) const {
    const std::lock_guard lock(mu_);
    if (shown_.empty()) return;
    std::string line;  // one series at a time, reused
    line.reserve(256);
    auto header = [&](std::string_view name, std::string_view help) {
      line.assign("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
      line.append(name).append(" gauge\n");
      out.append(line);
    };
    header(kStatusName, kStatusHelp);
    bool any_age = false;
    for (const Series& series : shown_) {
      line.assign(kStatusName).append("{job_id=\"");
      appendLabelValue(line, series.id);
      line.append("\",status=\"");
      appendLabelValue(line, *series.status);
      line.append("\",type=\"");
      appendLabelValue(line, *series.type);
      line.append("\"} 1\n");
      out.append(line);
      any_age = any_age || showsAge(series);
    }
    if (!any_age) return;
    header(kAddedName, kAddedHelp);
    for (const Series& series : shown_) {
      if (!showsAge(series)) continue;
      line.assign(kAddedName).append("{job_id=\"");
      appendLabelValue(line, series.id);
      line.append("\"} ");
      appendValue(line, series.added_at);
      line += '\n';
      out.append(line);
    }
  }

 private:
  struct Series {
    std::string id;
    const std::string* status = nullptr;  // interned in words_
    const std::string* type = nullptr;    // interned in words_
    double added_at = 0;                  // unix seconds; 0 = unknown
    bool terminal = false;
  };

  static bool showsAge(const Series& series) { return !series.terminal && series.added_at > 0; }

  // Finds the ID a position points at; transparent, so lookups take the ID.
  // Hash codes are cached in the nodes (the hash is not noexcept): erasing
  // and rehashing never read an entry.
  struct PosHash {
    using is_transparent = void;
    const std::vector<Series>* shown;
    size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
    size_t operator()(size_t pos) const { return (*this)(std::string_view((*shown)[pos].id)); }
  };
  struct PosEqual {
    using is_transparent = void;
    const std::vector<Series>* shown;
    bool operator()(size_t a, size_t b) const { return (*shown)[a].id == (*shown)[b].id; }
    bool operator()(std::string_view id, size_t b) const { return (*shown)[b].id == id; }
    bool operator()(size_t a, std::string_view id) const { return (*shown)[a].id == id; }
  };

  // Everything but the id.
  void assign(Series& series, const status::Job& job) {
    const std::string* status = acquire(job.status);
    const std::string* type = acquire(job.facts.type);
    release(series);
    series.status = status;
    series.type = type;
    series.added_at = job.added_at == WallTime{} ? 0.0 : unixSeconds(job.added_at);
    series.terminal = job.terminal;
  }

  const std::string* acquire(const std::string& word) {
    auto [it, fresh] = words_.try_emplace(word, 0);
    ++it->second;
    return &it->first;  // node-based: the key never moves
  }

  void releaseWord(const std::string* word) {
    if (word == nullptr) return;
    auto it = words_.find(*word);
    if (--it->second == 0) words_.erase(it);
  }

  void release(Series& series) {
    releaseWord(series.status);
    releaseWord(series.type);
    series.status = nullptr;
    series.type = nullptr;
  }

  void show(Series series) {
    shown_.push_back(std::move(series));
    index_.insert(shown_.size() - 1);
  }

  const std::uint64_t limit_;
  prometheus::Gauge& capped_;  // set under mu_, so it always matches the table
  mutable std::mutex mu_;
  std::vector<Series> shown_;  // guarded by mu_
  // Positions in shown_, found by ID; guarded by mu_.
  std::unordered_set<size_t, PosHash, PosEqual> index_{0, PosHash{&shown_}, PosEqual{&shown_}};
  std::unordered_map<std::string, Series> waiting_;  // guarded by mu_
  std::unordered_map<std::string, size_t> words_;    // word -> series using it; guarded by mu_
};

}  // namespace jobwatch::metrics
