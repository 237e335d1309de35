// SPDX-License-Identifier: Apache-2.0
#include "hooks/hook_environment.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string_view>

namespace jobwatch::hooks {
namespace {

// Used when the daemon itself runs without PATH or LANG (e.g. `env -i`).
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr const char* kDefaultLang = "C.UTF-8";

// The fixed variables, in the order hooks see them (SPEC "Hooks").
constexpr std::array<std::string_view, kFixedHookVariables> kFixedNames = {
    "PATH",
    "LANG",
    "JOBWATCH_EVENT_ID",
    "JOBWATCH_HOOK",
    "JOBWATCH_JOB_ID",
    "JOBWATCH_STATUS",
    "JOBWATCH_PREVIOUS_STATUS",
    "JOBWATCH_STATUS_RAW",
    "JOBWATCH_JOB_TYPE",
    "JOBWATCH_PDF_NAME",
    "JOBWATCH_PDF_HASH",
    "JOBWATCH_ERROR",
    "JOBWATCH_CREATED_AT",
    "JOBWATCH_UPDATED_AT",
    "JOBWATCH_ATTEMPT",
    "JOBWATCH_ACCOUNT",  // the only one bounded by kMaxAccountNameBytes
};
static_assert(std::all_of(kFixedNames.begin(), kFixedNames.end(),
                          [](std::string_view n) { return n.size() <= kMaxFixedNameLength; }),
              "kMaxFixedNameLength must bound every fixed name");
static_assert(kFixedNames.back() == "JOBWATCH_ACCOUNT",
              "kMaxHookEnvironmentBytes counts the last fixed value as an account name");

// An environment string cannot carry NUL: execve would cut it there, and a
// cut value could masquerade as something else. The inputs never contain
// NUL (they come from validated config and parsed JSON); strip defensively.
// At most `max_bytes` are kept (see the size invariant in the header).
std::string withoutNul(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (char c : text) {
    if (out.size() == max_bytes) break;
    if (c != '\0') out += c;
  }
  return out;
}

void add(std::vector<std::string>& env, std::string_view name, std::string_view value,
         std::size_t max_value_bytes) {
  std::string entry = withoutNul(name, kLabelPrefixLength + kMaxLabelKeyLength);
  entry += '=';
  entry += withoutNul(value, max_value_bytes);
  env.push_back(std::move(entry));
}

// Label variables, within the caps of util/label_limits.h (labels stored
// before the caps existed may exceed them: the first that fit are kept).
// Keys are validated as [A-Za-z_][A-Za-z0-9_]*, so uppercasing can only
// collide when two keys differ in case ("env" and "Env"). A duplicate
// variable would be read differently by different programs; the first in
// the labels' (byte) order wins and the others are left out.
void addLabels(std::vector<std::string>& env, const std::map<std::string, std::string>& labels) {
  std::set<std::string> seen;
  std::size_t bytes = 0;
  for (const auto& [key, value] : labels) {
    if (seen.size() == kMaxLabelsPerJob) break;
    if (key.size() > kMaxLabelKeyLength || value.size() > kMaxLabelValueBytes ||
        bytes + key.size() + value.size() > kMaxLabelBytesPerJob) {
      continue;
    }
    std::string upper = withoutNul(key, kMaxLabelKeyLength);
    // ASCII only, independent of the daemon's locale.
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
      return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    });
    if (!seen.insert(upper).second) continue;
    bytes += key.size() + value.size();
    add(env, "JOBWATCH_LABEL_" + upper, value, kMaxLabelValueBytes);
  }
}

}  // namespace

std::vector<std::string> hookEnvironment(const state::HookRun& run, int attempt,
                                         const std::string& path, const std::string& lang) {
  const std::array<std::string, kFixedHookVariables> values = {
      path.empty() ? kDefaultPath : path,
      lang.empty() ? kDefaultLang : lang,
      run.job_id + ":" + run.status,
      run.hook,
      run.job_id,
      run.status,
      run.previous_status,
      run.facts.status_raw,
      run.facts.type,
      run.facts.pdf_name,
      run.facts.pdf_hash,
      run.facts.error,
      run.facts.created_at,
      run.facts.updated_at,
      std::to_string(attempt),
      run.account,
  };
  std::vector<std::string> env;
  env.reserve(kFixedHookVariables + std::min(run.labels.size(), kMaxLabelsPerJob));
  for (std::size_t i = 0; i < kFixedHookVariables; ++i) {
    const bool account = i + 1 == kFixedHookVariables;
    add(env, kFixedNames[i], values[i], account ? kMaxAccountNameBytes : kMaxHookValueBytes);
  }
  addLabels(env, run.labels);
  if (run.with_result) {
    // The ledger fills exactly one of them; a run without either was never
    // given a result, and says so rather than pretending.
    if (!run.result_file.empty()) {
      add(env, "JOBWATCH_RESULT_FILE", run.result_file, kMaxResultValueBytes);
    } else {
      add(env, "JOBWATCH_RESULT_ERROR",
          run.result_error.empty() ? std::string_view("no result") : run.result_error,
          kMaxResultValueBytes);
    }
  }
  if (hookEnvironmentBytes(env) > kMaxHookEnvironmentBytes) {
    // Bounded by construction above: a bug, not an input problem.
    std::fprintf(stderr, "jobwatchd: broken invariant: hook environment over its bound\n");
    std::abort();
  }
  return env;
}

std::size_t hookEnvironmentBytes(const std::vector<std::string>& env) {
  std::size_t bytes = sizeof(char*);
  for (const std::string& entry : env) bytes += hookStringCost(entry.size());
  return bytes;
}

std::vector<std::string> hookArgv(const config::HookDefinition& hook) {
  if (hook.shell) return {"/bin/sh", "-c", *hook.shell};
  return hook.command;
}

}  // namespace jobwatch::hooks
