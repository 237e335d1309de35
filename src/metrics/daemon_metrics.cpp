#include "metrics/daemon_metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "metrics/text_exposition.h"

namespace jobwatch::metrics {

namespace {

using api::PollResultKind;
using hooks::HookResult;
using prometheus::ClientMetric;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;
using prometheus::MetricFamily;

constexpr std::array kPollResults = {
    PollResultKind::kOk,           PollResultKind::kHttpError,  PollResultKind::kTimeout,
    PollResultKind::kNetworkError, PollResultKind::kParseError, PollResultKind::kAuthError,
    PollResultKind::kRateLimited,  PollResultKind::kNotFound,
};
constexpr std::array kHookResults = {HookResult::kSuccess, HookResult::kFailure,
                                     HookResult::kTimeout, HookResult::kSpawnError};

// API round trips: a few ms on a LAN, seconds when the API struggles, up to
// the request timeout (10 s default, 30 s as a generous ceiling).
const Histogram::BucketBoundaries kPollBuckets = {.005, .01, .025, .05, .1, .25,
                                                  .5,   1,   2.5,  5,   10, 30};
// Hooks: from a quick notification to a multi-minute result download.
const Histogram::BucketBoundaries kHookBuckets = {.01, .05, .1, .5,  1,   5,
                                                  10,  30,  60, 120, 300, 600};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jobwatchd: broken invariant: %s\n", what);
  std::abort();
}

double unixSeconds(WallTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

size_t pollIndex(PollResultKind kind) {
  for (size_t i = 0; i < kPollResults.size(); ++i) {
    if (kPollResults[i] == kind) return i;
  }
  die("unknown PollResultKind");
}

size_t hookIndex(HookResult result) {
  for (size_t i = 0; i < kHookResults.size(); ++i) {
    if (kHookResults[i] == result) return i;
  }
  die("unknown HookResult");
}

// Appends a label value as the text format wants it: \ " and newline
// escaped (status and type come from the API).
void appendLabelValue(std::string& out, std::string_view value) {
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
void appendValue(std::string& out, double value) {
  char text[32];
  const int n = std::snprintf(text, sizeof text, "%.16g", value);
  out.append(text, static_cast<size_t>(n));
}

constexpr std::string_view kStatusName = "jobwatch_job_status";
constexpr std::string_view kStatusHelp =
    "One series per watched job (value 1) with its current status and type; "
    "absent for jobs beyond metrics.per_job_limit.";
constexpr std::string_view kAddedName = "jobwatch_job_added_timestamp_seconds";
constexpr std::string_view kAddedHelp =
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
  JobSeriesTable(std::uint64_t limit, Gauge& capped) : limit_(limit), capped_(capped) {}

  // Adds or updates a job. Returns true when this call had to leave the job
  // without a series because of the limit.
  bool upsert(const scheduler::JobRecord& job) {
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
  void render(std::vector<MetricFamily>& out) const {
    const std::lock_guard lock(mu_);
    if (shown_.empty()) return;
    MetricFamily status;
    status.name = kStatusName;
    status.help = kStatusHelp;
    status.type = prometheus::MetricType::Gauge;
    status.metric.resize(shown_.size());
    MetricFamily added;
    added.name = kAddedName;
    added.help = kAddedHelp;
    added.type = prometheus::MetricType::Gauge;
    added.metric.reserve(shown_.size());  // untouched capacity costs no pages

    for (size_t i = 0; i < shown_.size(); ++i) {
      const Series& series = shown_[i];
      ClientMetric& m = status.metric[i];
      m.label.resize(3);
      m.label[0].name = "job_id";
      m.label[0].value = series.id;
      m.label[1].name = "status";
      m.label[1].value = *series.status;
      m.label[2].name = "type";
      m.label[2].value = *series.type;
      m.gauge.value = 1;
      if (showsAge(series)) {
        ClientMetric& a = added.metric.emplace_back();
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
  void assign(Series& series, const scheduler::JobRecord& job) {
    const std::string* status = acquire(job.status);
    const std::string* type = acquire(job.type);
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
  Gauge& capped_;  // set under mu_, so it always matches the table
  mutable std::mutex mu_;
  std::vector<Series> shown_;  // guarded by mu_
  // Positions in shown_, found by ID; guarded by mu_.
  std::unordered_set<size_t, PosHash, PosEqual> index_{0, PosHash{&shown_}, PosEqual{&shown_}};
  std::unordered_map<std::string, Series> waiting_;  // guarded by mu_
  std::unordered_map<std::string, size_t> words_;    // word -> series using it; guarded by mu_
};

// What the exposer serves. Owns (shares) everything it renders, so a scrape
// in flight never touches a destroyed DaemonMetrics.
class ServedMetrics final : public prometheus::Collectable, public TextExposition {
 public:
  ServedMetrics(std::shared_ptr<prometheus::Registry> registry,
                std::shared_ptr<const JobSeriesTable> table)
      : registry_(std::move(registry)), table_(std::move(table)) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> families = registry_->Collect();
    if (table_) table_->render(families);
    return families;
  }

  // What MetricsServer serves: the aggregates (a few dozen series) through
  // prometheus-cpp, the per-job series written directly.
  void writeText(PageBuffer& out) const override {
    out.append(prometheus::TextSerializer().Serialize(registry_->Collect()));
    if (table_) table_->writeText(out);
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<const JobSeriesTable> table_;
};

}  // namespace

struct DaemonMetrics::Impl {
  Impl(std::shared_ptr<prometheus::Registry> reg, MetricsOptions opts, const Clock* injected_clock,
       Log& lg)
      : registry(std::move(reg)),
        options(std::move(opts)),
        owned_clock(injected_clock ? nullptr : std::make_unique<SystemClock>()),
        clock(injected_clock ? *injected_clock : *owned_clock),
        log(lg),
        jobs(prometheus::BuildGauge()
                 .Name("jobwatch_jobs")
                 .Help("Watched jobs by current status (canonical, lowercase); every known "
                       "status is present, 0 when no job has it.")
                 .Register(*registry)),
        polls(prometheus::BuildCounter()
                  .Name("jobwatch_polls_total")
                  .Help("Polls of GET /jobs/{id} by outcome: ok, not_found (404), rate_limited "
                        "(429/503), auth_error (401/403: check the API key), http_error (other "
                        "codes), timeout, network_error, parse_error (unusable body).")
                  .Register(*registry)),
        poll_duration(prometheus::BuildHistogram()
                          .Name("jobwatch_poll_duration_seconds")
                          .Help("Time each job status request to the API took, whatever its "
                                "outcome.")
                          .Register(*registry)
                          .Add({}, kPollBuckets)),
        status_changes(prometheus::BuildCounter()
                           .Name("jobwatch_status_changes_total")
                           .Help("Job status changes seen, by previous (from) and new (to) "
                                 "status.")
                           .Register(*registry)),
        hook_runs(prometheus::BuildCounter()
                      .Name("jobwatch_hook_runs_total")
                      .Help("Finished hook attempts by hook and result (success, failure, "
                            "timeout, spawn_error); failed attempts are retried up to the "
                            "hook's retries, then logged as errors.")
                      .Register(*registry)),
        hook_duration(prometheus::BuildHistogram()
                          .Name("jobwatch_hook_duration_seconds")
                          .Help("Wall time of each hook attempt, by hook.")
                          .Register(*registry)),
        hooks_pending(prometheus::BuildGauge()
                          .Name("jobwatch_hooks_pending")
                          .Help("Hook runs recorded and not yet finished (waiting, retrying or "
                                "running); steady growth means hooks cannot keep up.")
                          .Register(*registry)
                          .Add({})),
        watch_rejected(prometheus::BuildCounter()
                           .Name("jobwatch_watch_rejected_total")
                           .Help("Watch-list entries or drop files rejected (invalid job ID, "
                                 "malformed file), by source (file, drop_dir); the log and "
                                 ".rejected/*.reason say why.")
                           .Register(*registry)),
        api_up(prometheus::BuildGauge()
                   .Name("jobwatch_api_up")
                   .Help("1 if the last poll reached the API and was authorised; 0 after a "
                         "timeout, network error, 5xx or auth error, and before the first poll.")
                   .Register(*registry)
                   .Add({})),
        last_success(prometheus::BuildGauge()
                         .Name("jobwatch_last_successful_poll_timestamp_seconds")
                         .Help("Unix time of the last poll the API answered with a usable job "
                               "(result ok); 0 until the first.")
                         .Register(*registry)
                         .Add({})),
        reload_ok(prometheus::BuildGauge()
                      .Name("jobwatch_config_last_reload_successful")
                      .Help("1 if the last configuration reload succeeded (1 at start); 0 "
                            "means the new config was invalid and the old one keeps running.")
                      .Register(*registry)
                      .Add({})),
        series_capped(prometheus::BuildGauge()
                          .Name("jobwatch_job_status_series_capped")
                          .Help("1 while some watched jobs have no jobwatch_job_status series "
                                "because metrics.per_job_limit is reached.")
                          .Register(*registry)
                          .Add({})) {
    for (size_t i = 0; i < kPollResults.size(); ++i) {
      poll_counters[i] = &polls.Add({{"result", std::string(api::resultLabel(kPollResults[i]))}});
    }
    for (const char* source : {"file", "drop_dir"}) watch_rejected.Add({{"source", source}});
    for (const auto& status : options.statuses) jobsGauge(status);
    reload_ok.Set(1);
    prometheus::BuildGauge()
        .Name("jobwatch_build_info")
        .Help("Always 1; the version label says which jobwatchd is running.")
        .Register(*registry)
        .Add({{"version", options.version}})
        .Set(1);
    if (options.per_job_series) {
      table = std::make_shared<JobSeriesTable>(options.per_job_limit, series_capped);
    }
    collectable = std::make_shared<ServedMetrics>(registry, table);
  }

  Gauge& jobsGauge(const std::string& status) {
    const std::lock_guard lock(mu);
    auto it = jobs_by_status.find(status);
    if (it == jobs_by_status.end()) {
      it = jobs_by_status.emplace(status, &jobs.Add({{"status", status}})).first;
    }
    return *it->second;
  }

  Counter& statusChanges(const std::string& from, const std::string& to) {
    const std::lock_guard lock(mu);
    auto key = std::make_pair(from, to);
    auto it = changes.find(key);
    if (it == changes.end()) {
      it = changes.emplace(std::move(key), &status_changes.Add({{"from", from}, {"to", to}})).first;
    }
    return *it->second;
  }

  struct HookSeries {
    std::array<Counter*, kHookResults.size()> runs{};
    Histogram* duration = nullptr;
  };

  HookSeries& hookSeries(const std::string& hook) {
    const std::lock_guard lock(mu);
    auto it = hooks_by_name.find(hook);
    if (it == hooks_by_name.end()) {
      HookSeries series;
      for (size_t i = 0; i < kHookResults.size(); ++i) {
        series.runs[i] = &hook_runs.Add(
            {{"hook", hook}, {"result", std::string(hooks::hookResultLabel(kHookResults[i]))}});
      }
      series.duration = &hook_duration.Add({{"hook", hook}}, kHookBuckets);
      it = hooks_by_name.emplace(hook, series).first;
    }
    return it->second;
  }

  void trackJob(const scheduler::JobRecord& job) {
    if (!table || !table->upsert(job)) return;
    if (!cap_warned.exchange(true)) {
      log.warn("per-job series capped: jobs beyond the limit get no jobwatch_job_status series",
               {{"limit", std::to_string(options.per_job_limit)}, {"job_id", job.id}});
    }
  }

  std::shared_ptr<prometheus::Registry> registry;
  const MetricsOptions options;
  const std::unique_ptr<SystemClock> owned_clock;
  const Clock& clock;
  Log& log;

  Family<Gauge>& jobs;
  Family<Counter>& polls;
  Histogram& poll_duration;
  Family<Counter>& status_changes;
  Family<Counter>& hook_runs;
  Family<Histogram>& hook_duration;
  Gauge& hooks_pending;
  Family<Counter>& watch_rejected;
  Gauge& api_up;
  Gauge& last_success;
  Gauge& reload_ok;
  Gauge& series_capped;
  std::array<Counter*, kPollResults.size()> poll_counters{};

  // Caches of label sets already added (Family::Add would find them too, but
  // hashes every label on each call).
  std::mutex mu;
  std::unordered_map<std::string, Gauge*> jobs_by_status;           // guarded by mu
  std::map<std::pair<std::string, std::string>, Counter*> changes;  // guarded by mu
  std::unordered_map<std::string, HookSeries> hooks_by_name;        // guarded by mu

  std::shared_ptr<JobSeriesTable> table;  // null when per_job_series is off
  std::atomic<bool> cap_warned{false};
  std::shared_ptr<ServedMetrics> collectable;
};

DaemonMetrics::DaemonMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsOptions options,
                             const Clock& clock, Log& log) {
  if (!registry) die("DaemonMetrics needs a registry");
  impl_ = std::make_unique<Impl>(std::move(registry), std::move(options), &clock, log);
}

DaemonMetrics::DaemonMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsOptions options,
                             Log& log) {
  if (!registry) die("DaemonMetrics needs a registry");
  impl_ = std::make_unique<Impl>(std::move(registry), std::move(options), nullptr, log);
}

DaemonMetrics::~DaemonMetrics() = default;

void DaemonMetrics::onPollFinished(const scheduler::PollFinished& poll) {
  impl_->poll_counters[pollIndex(poll.result)]->Increment();
  impl_->poll_duration.Observe(std::chrono::duration<double>(poll.elapsed).count());
  impl_->api_up.Set(api::apiAnswered(poll.result) ? 1 : 0);
  if (poll.result == PollResultKind::kOk) {
    impl_->last_success.Set(unixSeconds(impl_->clock.wallNow()));
  }
}

void DaemonMetrics::onTransition(const scheduler::StatusTransition& transition) {
  impl_->statusChanges(transition.from, transition.to).Increment();
  impl_->jobsGauge(transition.from).Decrement();
  impl_->jobsGauge(transition.to).Increment();
  impl_->trackJob(transition.job);
}

void DaemonMetrics::onHookFinished(const std::string& hook, hooks::HookResult result,
                                   std::chrono::duration<double> duration) {
  auto& series = impl_->hookSeries(hook);
  series.runs[hookIndex(result)]->Increment();
  series.duration->Observe(duration.count());
}

void DaemonMetrics::onPendingChanged(size_t pending) {
  impl_->hooks_pending.Set(static_cast<double>(pending));
}

void DaemonMetrics::jobWatched(const scheduler::JobRecord& job) {
  impl_->jobsGauge(job.status).Increment();
  impl_->trackJob(job);
}

void DaemonMetrics::onJobWatched(const scheduler::JobRecord& job) { jobWatched(job); }

void DaemonMetrics::onJobUnwatched(const scheduler::JobRecord& job) {
  jobUnwatched(job.id, job.status);
}

void DaemonMetrics::jobUnwatched(const std::string& job_id, const std::string& status) {
  impl_->jobsGauge(status).Decrement();
  if (impl_->table) impl_->table->remove(job_id);
}

void DaemonMetrics::hooksConfigured(const std::vector<std::string>& hook_names) {
  for (const auto& name : hook_names) impl_->hookSeries(name);
}

void DaemonMetrics::watchRejected(std::string_view source, size_t count) {
  impl_->watch_rejected.Add({{"source", std::string(source)}})
      .Increment(static_cast<double>(count));
}

void DaemonMetrics::configReloaded(bool successful) { impl_->reload_ok.Set(successful ? 1 : 0); }

std::shared_ptr<prometheus::Collectable> DaemonMetrics::collectable() { return impl_->collectable; }

}  // namespace jobwatch::metrics
