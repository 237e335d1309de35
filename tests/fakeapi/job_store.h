// SPDX-License-Identifier: Apache-2.0
// The fake API's model: every job's status (timeline or admin override), the
// scripted faults, the API key rule and the request log. It answers a /jobs
// request with a status code, a body and possibly a fault for the server to
// act out; it never touches sockets. Time comes in as an argument (`Now`),
// so the model has no clock of its own.
//
// Thread-safety: all public methods may be called from any thread.
//  - The job table is guarded by `jobs_mu_` (shared for lookups, exclusive
//    only when the admin API creates a job). Jobs are never removed, so a
//    Job* stays valid for the store's lifetime.
//  - Each job's mutable state (clock start, override, faults, request tally,
//    rendered body) is guarded by its own `Job::mu`, so connections polling
//    different jobs never contend; the request path holds it for a few
//    hundred nanoseconds.
//  - Global faults, the API key and requests for unknown ids each have their
//    own lock, and atomics let the request path skip them when unused.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "json_text.h"
#include "key_ledger.h"
#include "scenario.h"

namespace fakeapi {

using SteadyTime = std::chrono::steady_clock::time_point;

struct Now {
  SteadyTime steady;
  WallTime wall;
  static Now read() { return {std::chrono::steady_clock::now(), std::chrono::system_clock::now()}; }
};

enum class JobEndpoint { kStatus, kResult };  // /jobs/{id} and /jobs/{id}/result

struct JobReply {
  int code = 200;
  // A 429 of the key's rate limit: Retry-After seconds (with code 429).
  std::optional<std::int64_t> retry_after_s;
  std::optional<FaultSpec> fault;  // act this out instead of (or around) the normal answer
  // A generated /result body (result_bytes): the server streams it with
  // appendResultBytes instead of sending the body it was given.
  std::uint64_t stream_bytes = 0;
  std::uint64_t stream_rate = 0;  // bytes per second; 0: as fast as it goes
  bool stream_chunked = false;    // Transfer-Encoding: chunked, no Content-Length
};

// Bytes [offset, offset + n) of job `id`'s generated result of `total`
// bytes: {"job_id":"<id>","data":"abc...xyz abc..."} - the filler's k-th
// character is 'a' + k % 26. A total too small for the frame gets the
// frame anyway (callers ask for at least resultFrameBytes(id)).
void appendResultBytes(std::string& out, std::string_view id, std::uint64_t total,
                       std::uint64_t offset, std::size_t n);
std::uint64_t resultFrameBytes(std::string_view id);

// Request times kept per job; older ones are dropped, the count stays exact.
inline constexpr std::size_t kMaxLoggedTimesPerJob = 10'000;

class JobStore {
 public:
  JobStore(const Scenario& scenario, Now start);
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;
  ~JobStore();

  // The header that carries the API key (fixed for the process).
  const std::string& keyHeader() const { return key_header_; }

  // Answers GET /jobs/{id}[/result]: logs the request, starts the job's clock
  // (timeline_start: first_request), picks the first matching fault (job's
  // own first, then global), and writes the normal answer's body into `body`
  // (cleared first; reuse it across calls to avoid allocating). Faults are
  // chosen before the key check, so an outage answers even bad-key requests;
  // the key's rate limit (KeyLedger) comes last, for accepted keys only.
  [[nodiscard]] JobReply answerJobRequest(std::string_view id, JobEndpoint endpoint,
                                          const std::string_view* presented_key, Now now,
                                          std::string& body);

  // Admin API.
  [[nodiscard]] std::string requestLogJson(std::optional<std::string_view> job) const;
  void resetRequestLog();
  // Sets a job's status from now on, creating the job if unknown; returns its JSON.
  [[nodiscard]] std::string overrideStatus(std::string_view id, std::string_view status, Now now);
  // Adds a global fault, or one for `job`. False when that job does not exist.
  [[nodiscard]] bool addFault(std::optional<std::string_view> job, FaultSpec fault);
  void clearFaults();
  void setApiKey(std::string key);  // the only valid key from now on; empty disables the check
  // A key's limit from now on (0: none); the key is reported from now on.
  void setRateLimit(const std::string& key, std::uint64_t per_window);
  [[nodiscard]] std::string statusesJson(Now now) const;

 private:
  struct Job;
  struct Tally;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  template <typename V>
  using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

  Job* findJob(std::string_view id) const;
  struct State;
  State currentState(const Job& job, Now now) const;  // requires job.mu
  static void appendJobJson(std::string& out, const Job& job, const State& state);
  const std::string& renderedJob(Job& job, const State& state) const;  // requires job.mu
  bool keyAccepted(const std::string_view* presented) const;
  void logStray(std::string_view id, std::int64_t epoch_ms);
  // Counts the request for its key; past the key's limit, makes `reply` a 429.
  void applyRateLimit(JobReply& reply, bool accepted, const std::string_view* presented, Now now,
                      std::string& body);

  const Now start_;
  const TimelineStart timeline_start_;
  const std::string key_header_;

  mutable std::shared_mutex jobs_mu_;
  StringMap<std::unique_ptr<Job>> jobs_;  // guarded by jobs_mu_

  std::mutex faults_mu_;
  std::vector<FaultSpec> global_faults_;  // guarded by faults_mu_
  std::atomic<bool> have_global_faults_{false};

  mutable std::shared_mutex key_mu_;
  std::vector<std::string> api_keys_;  // guarded by key_mu_; empty: no check
  std::atomic<bool> key_required_{false};

  mutable std::mutex stray_mu_;
  StringMap<std::unique_ptr<Tally>> stray_;  // requests for unknown ids; guarded by stray_mu_

  std::atomic<std::uint64_t> total_requests_{0};
  KeyLedger key_ledger_;
};

}  // namespace fakeapi
