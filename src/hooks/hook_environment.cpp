#include "hooks/hook_environment.h"

#include <algorithm>
#include <set>

namespace jobwatch::hooks {
namespace {

// Used when the daemon itself runs without PATH or LANG (e.g. `env -i`).
constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr const char* kDefaultLang = "C.UTF-8";

// An environment string cannot carry NUL: execve would cut it there, and a
// cut value could masquerade as something else. The inputs never contain
// NUL (they come from validated config and parsed JSON); strip defensively.
std::string withoutNul(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c != '\0') out += c;
  }
  return out;
}

void add(std::vector<std::string>& env, std::string_view name, std::string_view value) {
  std::string entry = withoutNul(name);
  entry += '=';
  entry += withoutNul(value);
  env.push_back(std::move(entry));
}

}  // namespace

std::vector<std::string> hookEnvironment(const state::HookRun& run, int attempt,
                                         const std::string& path, const std::string& lang) {
  std::vector<std::string> env;
  env.reserve(15 + run.labels.size());
  add(env, "PATH", path.empty() ? kDefaultPath : path);
  add(env, "LANG", lang.empty() ? kDefaultLang : lang);
  add(env, "JOBWATCH_EVENT_ID", run.job_id + ":" + run.status);
  add(env, "JOBWATCH_HOOK", run.hook);
  add(env, "JOBWATCH_JOB_ID", run.job_id);
  add(env, "JOBWATCH_STATUS", run.status);
  add(env, "JOBWATCH_PREVIOUS_STATUS", run.previous_status);
  add(env, "JOBWATCH_STATUS_RAW", run.facts.status_raw);
  add(env, "JOBWATCH_JOB_TYPE", run.facts.type);
  add(env, "JOBWATCH_PDF_NAME", run.facts.pdf_name);
  add(env, "JOBWATCH_PDF_HASH", run.facts.pdf_hash);
  add(env, "JOBWATCH_ERROR", run.facts.error);
  add(env, "JOBWATCH_CREATED_AT", run.facts.created_at);
  add(env, "JOBWATCH_UPDATED_AT", run.facts.updated_at);
  add(env, "JOBWATCH_ATTEMPT", std::to_string(attempt));

  // Keys are validated as [A-Za-z_][A-Za-z0-9_]*, so uppercasing can only
  // collide when two keys differ in case ("env" and "Env"). A duplicate
  // variable would be read differently by different programs; the first in
  // the labels' (byte) order wins and the others are left out.
  std::set<std::string> seen;
  for (const auto& [key, value] : run.labels) {
    std::string upper = withoutNul(key);
    // ASCII only, independent of the daemon's locale.
    std::transform(upper.begin(), upper.end(), upper.begin(), [](char c) {
      return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    });
    if (!seen.insert(upper).second) continue;
    add(env, "JOBWATCH_LABEL_" + upper, value);
  }
  return env;
}

std::vector<std::string> hookArgv(const config::HookDefinition& hook) {
  if (hook.shell) return {"/bin/sh", "-c", *hook.shell};
  return hook.command;
}

}  // namespace jobwatch::hooks
