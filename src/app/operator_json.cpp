// SPDX-License-Identifier: Apache-2.0
#include "app/operator_json.h"

#include <cmath>
#include <ctime>

#include "util/json_writer.h"

namespace jobwatch::app {
namespace {

void timeOrNull(JsonWriter& w, std::string_view name, const std::optional<WallTime>& t) {
  w.key(name);
  if (t) {
    w.value(formatTime(*t));
  } else {
    w.null();
  }
}

void writeRun(JsonWriter& w, const state::HookRun& run) {
  w.beginObject()
      .field("event_id", run.job_id + ":" + run.status)
      .field("run_id", run.run_id)
      .field("job_id", run.job_id)
      .field("status", run.status)
      .field("hook", run.hook)
      .field("previous_status", run.previous_status)
      .field("state", runStateName(run.state))
      .field("attempts", run.attempts)
      .field("not_before", formatTime(run.not_before))
      .field("last_error", run.last_error)
      .endObject();
}

void writeTransition(JsonWriter& w, const state::TransitionEntry& t) {
  w.beginObject()
      .field("job_id", t.job_id)
      .field("from", t.from)
      .field("to", t.to)
      .field("at", formatTime(t.at))
      .field("updated_at", t.updated_at)
      .endObject();
}

void writeAttempt(JsonWriter& w, const state::HookAttempt& a) {
  w.beginObject()
      .field("run_id", a.run_id)
      .field("status", a.status)
      .field("hook", a.hook)
      .field("attempt", a.attempt)
      .field("started", formatTime(a.started))
      .field("duration_ms", static_cast<std::int64_t>(a.duration.count()))
      .key("exit_code");
  if (a.exit_code) {
    w.value(*a.exit_code);
  } else {
    w.null();
  }
  w.field("signal", a.signal).field("result", a.result).field("output", a.output).endObject();
}

void writeJobFields(JsonWriter& w, const status::Job& job, const std::string& account) {
  w.field("id", job.id)
      .field("account", account)
      .field("status", job.status)
      .field("terminal", job.terminal)
      .field("source", sourceName(job.source))
      .field("status_raw", job.facts.status_raw)
      .field("type", job.facts.type)
      .field("pdf_name", job.facts.pdf_name)
      .field("pdf_hash", job.facts.pdf_hash)
      .field("error", job.facts.error)
      .field("created_at", job.facts.created_at)
      .field("updated_at", job.facts.updated_at)
      .field("added_at", formatTime(job.added_at));
  timeOrNull(w, "terminal_at",
             job.terminal_at != WallTime{} ? std::optional(job.terminal_at) : std::nullopt);
  w.key("labels").beginObject();
  for (const auto& [k, v] : job.labels) w.field(k, v);
  w.endObject();
}

}  // namespace

std::string formatTime(WallTime t) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  const auto frac = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string toJson(const StatusReport& r) {
  JsonWriter w;
  w.beginObject().field("live", r.live).field("version", r.version).key("uptime_ms");
  if (r.uptime) {
    w.value(static_cast<std::int64_t>(r.uptime->count()));
  } else {
    w.null();
  }
  w.field("healthy", !r.degraded()).key("problems").beginArray();
  for (const auto& p : r.problems) w.value(p);
  w.endArray().key("accounts").beginArray();
  for (const auto& a : r.accounts) {
    w.beginObject()
        .field("name", a.name)
        .field("api_up", a.api_up)
        .field("auth_failing", a.auth_failing)
        .key("budget_per_minute")
        .raw(std::to_string(static_cast<std::int64_t>(std::llround(a.budget_per_minute))))
        .field("requests_last_minute", a.requests_last_minute);
    timeOrNull(w, "last_success", a.last_success);
    w.endObject();
  }
  w.endArray().field("jobs", r.jobs).key("jobs_by_status").beginObject();
  for (const auto& [s, n] : r.jobs_by_status) w.field(s, n);
  w.endObject()
      .key("hooks")
      .beginObject()
      .field("pending", r.hooks.pending)
      .field("running", r.hooks.running)
      .field("failed", r.hooks.failed)
      .endObject();
  timeOrNull(w, "last_reload", r.last_reload);
  w.field("last_reload_ok", r.last_reload_ok);
  if (r.fleet) {
    w.key("instances").beginArray();
    for (const auto& i : r.instances) {
      w.beginObject().field("instance", i.instance).field("jobs_held", i.jobs_held);
      timeOrNull(w, "started", i.started);
      timeOrNull(w, "heartbeat", i.heartbeat);
      w.field("self", i.self).endObject();
    }
    w.endArray();
  }
  w.endObject();
  return w.take();
}

std::string toJson(const JobsReport& r) {
  JsonWriter w;
  w.beginObject().field("live", r.live).key("jobs").beginArray();
  for (const auto& j : r.jobs) {
    w.beginObject()
        .field("id", j.id)
        .field("account", j.account)
        .field("status", j.status)
        .field("type", j.type)
        .field("pdf_name", j.pdf_name)
        .field("source", sourceName(j.source))
        .field("added_at", formatTime(j.added_at));
    timeOrNull(w, "last_poll", j.last_poll);
    w.endObject();
  }
  w.endArray().endObject();
  return w.take();
}

std::string toJson(const JobDetail& d) {
  JsonWriter w;
  w.beginObject().field("live", d.live).key("job").beginObject();
  writeJobFields(w, d.job, d.account);
  timeOrNull(w, "last_poll", d.last_poll);
  w.field("consecutive_errors", d.consecutive_errors).endObject();
  w.key("transitions").beginArray();
  for (const auto& t : d.transitions) writeTransition(w, t);
  w.endArray().key("hook_runs").beginArray();
  for (const auto& run : d.runs) writeRun(w, run);
  w.endArray().key("hook_attempts").beginArray();
  for (const auto& a : d.attempts) writeAttempt(w, a);
  w.endArray().endObject();
  return w.take();
}

std::string toJson(const HooksReport& r) {
  JsonWriter w;
  w.beginObject().field("live", r.live).field("truncated", r.truncated).key("runs").beginArray();
  for (const auto& run : r.runs) writeRun(w, run);
  w.endArray().endObject();
  return w.take();
}

}  // namespace jobwatch::app
