// SPDX-License-Identifier: Apache-2.0
#include "job_store.h"

#include <algorithm>
#include <utility>

namespace fakeapi {

namespace {

// Caps the ids remembered for requests to unknown jobs, so a client looping
// over random ids cannot grow the log without bound (counts stay in `total`).
constexpr std::size_t kMaxStrayIds = 100'000;

bool isResultReady(std::string_view status) {
  // The vendor's other endpoints say Succeeded; treat it like COMPLETED here.
  return equalsIgnoreCase(status, "completed") || equalsIgnoreCase(status, "succeeded");
}

bool windowMatches(const FaultSpec& fault, Millis since_start) {
  if (fault.from && since_start < *fault.from) return false;
  if (fault.until && since_start >= *fault.until) return false;
  return true;
}

bool endpointMatches(const FaultSpec& fault, JobEndpoint endpoint) {
  if (fault.endpoint.empty()) return true;
  return fault.endpoint == (endpoint == JobEndpoint::kResult ? "result" : "status");
}

bool keyMatches(const FaultSpec& fault, const std::string_view* presented) {
  return !fault.key || (presented != nullptr && *presented == *fault.key);
}

// Takes the first fault that applies now; a counted fault is used up by it.
std::optional<FaultSpec> takeFault(std::vector<FaultSpec>& faults, Millis since_start,
                                   JobEndpoint endpoint, const std::string_view* presented) {
  for (auto it = faults.begin(); it != faults.end(); ++it) {
    if (!windowMatches(*it, since_start) || !endpointMatches(*it, endpoint) ||
        !keyMatches(*it, presented)) {
      continue;
    }
    FaultSpec taken = *it;
    if (it->count && --*it->count == 0) faults.erase(it);
    return taken;
  }
  return std::nullopt;
}

void appendDetail(std::string& out, std::string_view detail) {
  out.append("{\"detail\":");
  appendJsonString(out, detail);
  out.push_back('}');
}

constexpr std::string_view kResultHead1 = "{\"job_id\":\"";
constexpr std::string_view kResultHead2 = "\",\"data\":\"";
constexpr std::string_view kResultTail = "\"}";

}  // namespace

std::uint64_t resultFrameBytes(std::string_view id) {
  return kResultHead1.size() + id.size() + kResultHead2.size() + kResultTail.size();
}

void appendResultBytes(std::string& out, std::string_view id, std::uint64_t total,
                       std::uint64_t offset, std::size_t n) {
  // Job IDs served here need no JSON escaping (isServableJobId).
  const std::uint64_t head = kResultHead1.size() + id.size() + kResultHead2.size();
  const std::uint64_t tail_at = total - kResultTail.size();
  for (std::uint64_t i = offset; i < offset + n && i < total; ++i) {
    char c;
    if (i < kResultHead1.size()) {
      c = kResultHead1[i];
    } else if (i < kResultHead1.size() + id.size()) {
      c = id[i - kResultHead1.size()];
    } else if (i < head) {
      c = kResultHead2[i - kResultHead1.size() - id.size()];
    } else if (i < tail_at) {
      c = static_cast<char>('a' + (i - head) % 26);
    } else {
      c = kResultTail[i - tail_at];
    }
    out.push_back(c);
  }
}

struct JobStore::Tally {
  std::uint64_t count = 0;
  std::uint64_t result_count = 0;      // of them, GET /jobs/{id}/result
  std::vector<std::int64_t> times_ms;  // a ring once it holds kMaxLoggedTimesPerJob
  std::size_t next = 0;                // oldest entry once the ring is full

  void add(std::int64_t epoch_ms) {
    ++count;
    if (times_ms.size() < kMaxLoggedTimesPerJob) {
      times_ms.push_back(epoch_ms);
    } else {
      times_ms[next] = epoch_ms;
      next = (next + 1) % times_ms.size();
    }
  }

  void clear() {
    count = 0;
    result_count = 0;
    times_ms.clear();
    next = 0;
  }

  void appendJson(std::string& out) const {
    out.append("{\"count\":");
    appendUnsigned(out, count);
    out.append(",\"result_count\":");
    appendUnsigned(out, result_count);
    out.append(",\"times\":[");
    for (std::size_t i = 0; i < times_ms.size(); ++i) {
      if (i != 0) out.push_back(',');
      appendEpochSeconds(out, times_ms[(next + i) % times_ms.size()]);
    }
    out.append("]}");
  }
};

struct JobStore::Job {
  Job(std::string job_id, std::shared_ptr<const JobTemplate> job_template)
      : id(std::move(job_id)), tmpl(std::move(job_template)) {}

  const std::string id;
  const std::shared_ptr<const JobTemplate> tmpl;

  std::mutex mu;
  // All below guarded by mu.
  std::optional<SteadyTime> clock_start;  // timeline_start: first_request
  WallTime clock_start_wall;
  struct Override {
    std::string status;
    WallTime since;
  };
  std::optional<Override> override_status;
  std::vector<FaultSpec> faults;
  Tally tally;
  // The job JSON for state `rendered_state`; re-rendered only when the
  // status changes, so the hot path is a copy.
  int rendered_state = -2;
  std::string rendered;
};

struct JobStore::State {
  static constexpr int kOverridden = -1;
  int index;  // timeline step, or kOverridden
  const std::string* status;
  WallTime since;
};

JobStore::JobStore(const Scenario& scenario, Now start)
    : start_(start),
      timeline_start_(scenario.timeline_start),
      key_header_(scenario.key_header),
      global_faults_(scenario.faults),
      key_ledger_(scenario.api_keys, scenario.rate_limits, scenario.rate_window) {
  jobs_.reserve(scenario.jobs.size());
  for (const JobSpec& spec : scenario.jobs) {
    auto job = std::make_unique<Job>(spec.id, spec.job);
    job->faults = spec.job->faults;
    jobs_.emplace(spec.id, std::move(job));
  }
  have_global_faults_ = !global_faults_.empty();
  std::vector<std::string> keys = scenario.api_keys;
  if (scenario.api_key) keys.insert(keys.begin(), *scenario.api_key);
  if (scenario.api_key) key_ledger_.addKey(*scenario.api_key);
  key_required_ = !keys.empty();
  api_keys_ = std::move(keys);
}

JobStore::~JobStore() = default;

JobStore::Job* JobStore::findJob(std::string_view id) const {
  std::shared_lock lock(jobs_mu_);
  const auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

JobStore::State JobStore::currentState(const Job& job, Now now) const {
  if (job.override_status) {
    return {State::kOverridden, &job.override_status->status, job.override_status->since};
  }
  SteadyTime base = start_.steady;
  WallTime base_wall = start_.wall;
  if (timeline_start_ == TimelineStart::kFirstRequest) {
    if (job.clock_start) {
      base = *job.clock_start;
      base_wall = job.clock_start_wall;
    } else {
      base = now.steady;  // not polled yet: still at its first step
      base_wall = now.wall;
    }
  }
  const auto elapsed = now.steady - base;
  const auto& steps = job.tmpl->timeline;
  std::size_t index = 0;
  while (index + 1 < steps.size() && steps[index + 1].at <= elapsed) ++index;
  const Millis at = steps[index].at <= elapsed ? steps[index].at : Millis(0);
  return {static_cast<int>(index), &steps[index].status,
          base_wall + std::chrono::duration_cast<WallTime::duration>(at)};
}

void JobStore::appendJobJson(std::string& out, const Job& job, const State& state) {
  const JobTemplate& t = *job.tmpl;
  auto field = [&](std::string_view name, const std::optional<std::string>& value) {
    out.append(",\"");
    out.append(name);
    out.append("\":");
    appendJsonStringOrNull(out, value ? &*value : nullptr);
  };
  out.append(t.id_field_is_job_id ? "{\"job_id\":" : "{\"id\":");
  appendJsonString(out, job.id);
  out.append(",\"status\":");
  appendJsonString(out, *state.status);
  field("type", t.type);
  field("created_at", t.created_at);
  out.append(",\"updated_at\":\"");
  appendIsoTime(out, state.since);
  out.push_back('"');
  field("pdf_name", t.pdf_name);
  field("pdf_hash", t.pdf_hash);
  field("user_id", t.user_id);
  field("error", equalsIgnoreCase(*state.status, "failed") ? t.error : std::nullopt);
  out.push_back('}');
}

const std::string& JobStore::renderedJob(Job& job, const State& state) const {
  if (job.rendered_state != state.index) {
    job.rendered.clear();
    appendJobJson(job.rendered, job, state);
    job.rendered_state = state.index;
  }
  return job.rendered;
}

bool JobStore::keyAccepted(const std::string_view* presented) const {
  if (!key_required_.load(std::memory_order_acquire)) return true;
  std::shared_lock lock(key_mu_);
  return api_keys_.empty() || (presented != nullptr && std::find(api_keys_.begin(), api_keys_.end(),
                                                                 *presented) != api_keys_.end());
}

void JobStore::logStray(std::string_view id, std::int64_t epoch_ms) {
  std::lock_guard lock(stray_mu_);
  auto it = stray_.find(id);
  if (it == stray_.end()) {
    if (stray_.size() >= kMaxStrayIds) return;
    it = stray_.emplace(std::string(id), std::make_unique<Tally>()).first;
  }
  it->second->add(epoch_ms);
}

JobReply JobStore::answerJobRequest(std::string_view id, JobEndpoint endpoint,
                                    const std::string_view* presented_key, Now now,
                                    std::string& body) {
  body.clear();
  total_requests_.fetch_add(1, std::memory_order_relaxed);
  const Millis since_start = std::chrono::duration_cast<Millis>(now.steady - start_.steady);
  const std::int64_t epoch_ms = toEpochMillis(now.wall);
  JobReply reply;

  if (Job* job = findJob(id)) {
    std::lock_guard lock(job->mu);
    job->tally.add(epoch_ms);
    if (endpoint == JobEndpoint::kResult) ++job->tally.result_count;
    if (timeline_start_ == TimelineStart::kFirstRequest && !job->clock_start) {
      job->clock_start = now.steady;
      job->clock_start_wall = now.wall;
    }
    if (!job->faults.empty()) {
      reply.fault = takeFault(job->faults, since_start, endpoint, presented_key);
    }
    const State state = currentState(*job, now);
    if (endpoint == JobEndpoint::kStatus) {
      body.append(renderedJob(*job, state));
    } else if (isResultReady(*state.status)) {
      if (job->tmpl->result_bytes > 0) {
        reply.stream_bytes = std::max(job->tmpl->result_bytes, resultFrameBytes(job->id));
        reply.stream_rate = job->tmpl->result_rate;
        reply.stream_chunked = job->tmpl->result_chunked;
      }
      body.append("{\"job_id\":");
      appendJsonString(body, job->id);
      body.append(",\"result\":{\"pages\":1}}");
    } else {
      reply.code = 409;  // the vendor's "job not completed yet"
      appendDetail(body, "Result not ready");
    }
  } else {
    logStray(id, epoch_ms);
    reply.code = 404;
    appendDetail(body, "Job not found");
  }

  if (!reply.fault && have_global_faults_.load(std::memory_order_acquire)) {
    std::lock_guard lock(faults_mu_);
    reply.fault = takeFault(global_faults_, since_start, endpoint, presented_key);
    have_global_faults_.store(!global_faults_.empty(), std::memory_order_release);
  }
  const bool accepted = keyAccepted(presented_key);
  if (!accepted) {
    reply.code = 401;
    body.clear();
    appendDetail(body, "Invalid API key");
  }
  applyRateLimit(reply, accepted, presented_key, now, body);
  return reply;
}

std::string JobStore::requestLogJson(std::optional<std::string_view> job_filter) const {
  std::string out;
  if (job_filter) {
    if (Job* job = findJob(*job_filter)) {
      std::lock_guard lock(job->mu);
      job->tally.appendJson(out);
      return out;
    }
    std::lock_guard lock(stray_mu_);
    const auto it = stray_.find(*job_filter);
    if (it != stray_.end()) {
      it->second->appendJson(out);
    } else {
      Tally().appendJson(out);
    }
    return out;
  }

  // Render each job's entry under its own lock, then sort by id.
  std::vector<std::pair<std::string_view, std::string>> entries;
  {
    std::shared_lock lock(jobs_mu_);
    for (const auto& [id, job] : jobs_) {
      std::lock_guard job_lock(job->mu);
      if (job->tally.count == 0) continue;
      std::string entry;
      job->tally.appendJson(entry);
      entries.emplace_back(job->id, std::move(entry));  // Job::id outlives the call
    }
  }
  std::vector<std::pair<std::string, std::string>> strays;
  {
    std::lock_guard lock(stray_mu_);
    for (const auto& [id, tally] : stray_) {
      if (tally->count == 0) continue;
      std::string entry;
      tally->appendJson(entry);
      strays.emplace_back(id, std::move(entry));
    }
  }
  for (auto& [id, entry] : strays) entries.emplace_back(id, std::move(entry));
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });

  out.append("{\"total\":");
  appendUnsigned(out, total_requests_.load(std::memory_order_relaxed));
  out.append(",\"jobs\":{");
  bool first = true;
  for (const auto& [id, entry] : entries) {
    if (!first) out.push_back(',');
    first = false;
    appendJsonString(out, id);
    out.push_back(':');
    out.append(entry);
  }
  out.push_back('}');
  key_ledger_.appendJson(out);
  out.push_back('}');
  return out;
}

void JobStore::resetRequestLog() {
  key_ledger_.resetCounts();
  {
    std::shared_lock lock(jobs_mu_);
    for (const auto& [id, job] : jobs_) {
      std::lock_guard job_lock(job->mu);
      job->tally.clear();
    }
  }
  {
    std::lock_guard lock(stray_mu_);
    stray_.clear();
  }
  total_requests_.store(0, std::memory_order_relaxed);
}

std::string JobStore::overrideStatus(std::string_view id, std::string_view status, Now now) {
  Job* job = findJob(id);
  if (job == nullptr) {
    auto tmpl = std::make_shared<JobTemplate>();
    tmpl->timeline.push_back({Millis(0), std::string(status)});
    std::unique_lock lock(jobs_mu_);
    auto [it, inserted] = jobs_.try_emplace(std::string(id), nullptr);
    if (inserted) it->second = std::make_unique<Job>(std::string(id), std::move(tmpl));
    job = it->second.get();
  }
  {
    // Requests made before the job existed move over to it.
    std::lock_guard stray_lock(stray_mu_);
    const auto it = stray_.find(id);
    if (it != stray_.end()) {
      std::lock_guard lock(job->mu);
      const Tally& stray = *it->second;
      for (std::size_t i = 0; i < stray.times_ms.size(); ++i) {
        job->tally.add(stray.times_ms[(stray.next + i) % stray.times_ms.size()]);
      }
      job->tally.count += stray.count - stray.times_ms.size();
      stray_.erase(it);
    }
  }
  std::lock_guard lock(job->mu);
  job->override_status = Job::Override{std::string(status), now.wall};
  job->rendered_state = -2;
  std::string out;
  appendJobJson(out, *job, currentState(*job, now));
  return out;
}

bool JobStore::addFault(std::optional<std::string_view> job_id, FaultSpec fault) {
  if (job_id) {
    Job* job = findJob(*job_id);
    if (job == nullptr) return false;
    std::lock_guard lock(job->mu);
    job->faults.push_back(std::move(fault));
    return true;
  }
  std::lock_guard lock(faults_mu_);
  global_faults_.push_back(std::move(fault));
  have_global_faults_.store(true, std::memory_order_release);
  return true;
}

void JobStore::clearFaults() {
  {
    std::shared_lock lock(jobs_mu_);
    for (const auto& [id, job] : jobs_) {
      std::lock_guard job_lock(job->mu);
      job->faults.clear();
    }
  }
  std::lock_guard lock(faults_mu_);
  global_faults_.clear();
  have_global_faults_.store(false, std::memory_order_release);
}

void JobStore::setApiKey(std::string key) {
  key_ledger_.addKey(key);
  std::unique_lock lock(key_mu_);
  key_required_.store(!key.empty(), std::memory_order_release);
  api_keys_.clear();
  if (!key.empty()) api_keys_.push_back(std::move(key));
}

void JobStore::setRateLimit(const std::string& key, std::uint64_t per_window) {
  key_ledger_.setLimit(key, per_window);
}

void JobStore::applyRateLimit(JobReply& reply, bool accepted, const std::string_view* presented,
                              Now now, std::string& body) {
  using Prior = KeyLedger::Prior;
  Prior prior = Prior::kNone;
  if (!accepted) {
    prior = Prior::kRefused;  // a 401 (or a fault), not the key's request
  } else if (reply.fault) {
    const bool is_429 = reply.fault->kind == FaultKind::kHttp && reply.fault->code == 429;
    prior = is_429 ? Prior::kAnswered429 : Prior::kAnswered;
  }
  const auto retry_after = key_ledger_.admit(presented, prior, now.steady);
  if (!retry_after) return;
  reply.code = 429;
  reply.retry_after_s = *retry_after;
  reply.stream_bytes = 0;
  body.clear();
  appendDetail(body, "Rate limit exceeded for this API key; retry after " +
                         std::to_string(*retry_after) + " s");
}

std::string JobStore::statusesJson(Now now) const {
  std::vector<std::pair<std::string_view, std::string>> statuses;
  {
    std::shared_lock lock(jobs_mu_);
    statuses.reserve(jobs_.size());
    for (const auto& [id, job] : jobs_) {
      std::lock_guard job_lock(job->mu);
      statuses.emplace_back(job->id, *currentState(*job, now).status);
    }
  }
  std::sort(statuses.begin(), statuses.end());
  std::string out = "{\"jobs\":{";
  bool first = true;
  for (const auto& [id, status] : statuses) {
    if (!first) out.push_back(',');
    first = false;
    appendJsonString(out, id);
    out.push_back(':');
    appendJsonString(out, status);
  }
  out.append("}}");
  return out;
}

}  // namespace fakeapi
