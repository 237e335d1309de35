// SPDX-License-Identifier: Apache-2.0
#include "app/status_page.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace jobwatch::app {

using namespace std::chrono_literals;

namespace {

constexpr size_t kMaxQuery = 4096;
constexpr size_t kMaxFilterStatuses = 32;
constexpr size_t kMaxStatusWord = 128;
// Longest text shown in one table cell (bytes): the page's size stays
// bounded whatever the API sends.
constexpr size_t kMaxCell = 256;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded: '+' is a space, %XX a byte.
std::optional<std::string> formDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hexValue(text[i + 1]);
      const int lo = hexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

// Text for HTML element content and quoted attribute values. Control
// characters (not tab or newline) become U+FFFD.
std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += "\xEF\xBF\xBD";
        } else {
          out += c;
        }
    }
  }
  return out;
}

// At most kMaxCell bytes, cut at a UTF-8 character boundary, escaped.
std::string cell(std::string_view text) {
  if (text.size() <= kMaxCell) return escape(text);
  size_t end = kMaxCell;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return escape(text.substr(0, end)) + "\xE2\x80\xA6";  // …
}

std::string percentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string utcTime(WallTime at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%SZ", &tm);
  return text;
}

// "12s", "3m4s", "2d5h" (seconds dropped from an hour on).
std::string span(WallTime from, WallTime to) {
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(to - from);
  if (seconds < 0s) seconds = 0s;
  if (seconds >= 1h) seconds = std::chrono::duration_cast<std::chrono::minutes>(seconds);
  if (seconds == 0s) return "0s";
  return formatDuration(seconds);
}

std::string timeAndAgo(WallTime at, WallTime now) {
  return "<time>" + utcTime(at) + "</time> (" + span(at, now) + " ago)";
}

std::string optionalCount(const std::optional<size_t>& n) { return n ? std::to_string(*n) : "?"; }

// Every status the filter offers, with its count: the known vocabulary and
// the statuses jobs have now.
std::map<std::string, size_t> filterChoices(const StatusPageModel& model) {
  std::map<std::string, size_t> choices;
  for (const auto& status : model.known_statuses) choices[status] = 0;
  if (model.status_counts) {
    for (const auto& [status, n] : *model.status_counts) choices[status] = n;
  }
  return choices;
}

const char* kStyle = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#1d2330;background:#f6f7f9}
header{display:flex;gap:1em;align-items:baseline;border-bottom:3px solid #2f6fb3;margin-bottom:1em}
h1{font-size:1.6em;margin:.4em 0;color:#2f6fb3}h2{font-size:1.15em;margin:1.4em 0 .5em}
.notes{background:#fff4d6;border:1px solid #e0b84c;padding:.5em 1em}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2em 1.5em;margin:0}
dt{font-weight:600}dd{margin:0}
.up{color:#17803d;font-weight:600}.down{color:#b3261e;font-weight:600}
table{border-collapse:collapse;background:#fff;min-width:40%}
th,td{border:1px solid #d5d9e0;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#e8edf5}td.num{text-align:right}
tr.s-failed td.st,tr.s-not_found td.st,tr.s-timed_out td.st{color:#b3261e;font-weight:600}
tr.s-completed td.st{color:#17803d}
nav.filter a{margin-right:.6em;padding:.1em .4em;border-radius:3px;text-decoration:none}
nav.filter a.current{background:#2f6fb3;color:#fff}
td.id,td.mono{font-family:ui-monospace,monospace;word-break:break-all}
form{margin:.6em 0}footer{margin-top:2em;color:#5a6270}
h3{font-size:1em;margin:1em 0 .4em}
.health{padding:.1em .6em;border-radius:3px;font-weight:700;color:#fff;background:#6b7280}
.health.ok{background:#17803d}.health.degraded{background:#b3261e}
.problems{background:#fdecea;border:2px solid #b3261e;padding:.2em 1em;margin:1em 0}
.problems h2{color:#b3261e;margin:.4em 0}
)";

// The health at a glance, beside the title: ok, DEGRADED, or unknown when
// there was no status report.
std::string healthBadge(const StatusPageModel& m) {
  if (!m.problems) return "<span class=\"health\" id=\"health\">health unknown</span>";
  if (m.problems->empty()) return "<span class=\"health ok\" id=\"health\">ok</span>";
  return "<span class=\"health degraded\" id=\"health\">DEGRADED</span>";
}

// Only when degraded: why, as `jobwatchd status` says it.
void renderProblems(const StatusPageModel& m, std::string& out) {
  if (!m.problems || m.problems->empty()) return;
  const size_t n = m.problems->size();
  out += "<section class=\"problems\" id=\"problems\" role=\"alert\"><h2>Degraded: " +
         std::to_string(n) + (n == 1 ? " problem" : " problems") + "</h2><ul>";
  for (const auto& problem : *m.problems) out += "<li>" + escape(problem) + "</li>";
  out += "</ul></section>";
}

void renderAccounts(const StatusPageModel& m, std::string& out) {
  out += "<h3>Accounts</h3>";
  if (m.accounts.empty()) {
    out += "<p id=\"accounts\">Not known: the scheduler did not answer.</p>";
    return;
  }
  out +=
      "<table id=\"account-table\"><thead><tr><th>Account</th><th>API</th><th>Key</th>"
      "<th>Requests in the last minute</th><th>Budget per minute</th>"
      "<th>Last successful poll</th></tr></thead><tbody>";
  for (const AccountStatus& a : m.accounts) {
    out += "<tr data-account=\"" + cell(a.name) + "\"><td class=\"mono\">" + cell(a.name) +
           "</td><td>";
    if (!a.polled) {
      out += "not polled yet";
    } else {
      // Answering but refusing the key is not "up" in green: the key cell says why.
      out += !a.api_up        ? "<span class=\"down\">down</span>"
             : a.auth_failing ? "<span>up</span>"
                              : "<span class=\"up\">up</span>";
    }
    out += "</td><td>";
    if (a.auth_failing) {
      out += "<span class=\"down\">refused (401/403)</span>";
    } else {
      out += a.polled ? "accepted" : "-";
    }
    out += "</td><td class=\"num\">" + std::to_string(a.requests_last_minute) +
           "</td><td class=\"num\">" + a.budgetText() + "</td><td>" +
           (a.last_success ? timeAndAgo(*a.last_success, m.now) : std::string("none yet")) +
           "</td></tr>";
  }
  out += "</tbody></table>";
}

// state.backend postgresql: the live instances sharing the state.
void renderInstances(const StatusPageModel& m, std::string& out) {
  if (!m.fleet) return;
  out += "<h3>Instances</h3>";
  if (m.instances.empty()) {
    out += "<p id=\"instances\">No live instance known.</p>";
    return;
  }
  out +=
      "<table id=\"instance-table\"><thead><tr><th>Instance</th><th>Jobs held</th>"
      "<th>Started</th><th>Last heartbeat</th></tr></thead><tbody>";
  for (const InstanceStatus& i : m.instances) {
    out += "<tr><td class=\"mono\">" + cell(i.instance) + (i.self ? " (this one)" : "") +
           "</td><td class=\"num\">" + std::to_string(i.jobs_held) + "</td><td>" +
           timeAndAgo(i.started, m.now) + "</td><td>" + timeAndAgo(i.heartbeat, m.now) +
           "</td></tr>";
  }
  out += "</tbody></table>";
}

void renderSummary(const StatusPageModel& m, std::string& out) {
  out += "<section id=\"summary\"><h2>Status</h2><dl class=\"summary\">";
  out += "<dt>Version</dt><dd id=\"version\">" + escape(m.version) + "</dd>";
  out += "<dt>Uptime</dt><dd id=\"uptime\">" + span(m.started_at, m.now) + " (since " +
         utcTime(m.started_at) + ")</dd>";
  out += "<dt>Jobs</dt><dd id=\"job-count\">" + std::to_string(m.job_count) + "</dd>";
  if (m.fleet) out += "<dt></dt><dd>held by this instance (the fleet: below)</dd>";
  out += "<dt>Hooks</dt><dd id=\"hooks\">" + optionalCount(m.hooks_pending) + " pending, " +
         optionalCount(m.hooks_running) + " running, " + optionalCount(m.hooks_failed) +
         " failed</dd>";
  out += "<dt>Last reload</dt><dd id=\"last-reload\">";
  if (!m.last_reload_at) {
    out += "none since start";
  } else {
    out += timeAndAgo(*m.last_reload_at, m.now);
    out += m.last_reload_ok ? ", applied"
                            : ", <span class=\"down\">failed: the previous configuration "
                              "is still running</span>";
  }
  out += "</dd></dl>";
  renderAccounts(m, out);
  renderInstances(m, out);
  out += "</section>";
}

void renderFilter(const StatusPageModel& m, std::string& out) {
  const auto choices = filterChoices(m);
  out += "<nav class=\"filter\" id=\"filter\">Show: <a href=\"/\"";
  if (m.query.statuses.empty()) out += " class=\"current\" aria-current=\"page\"";
  out += ">all (" + std::to_string(m.job_count) + ")</a>";
  for (const auto& [status, n] : choices) {
    const bool current = m.query.statuses.size() == 1 && m.query.statuses.contains(status);
    out += "<a href=\"/?status=" + escape(percentEncode(status)) + "\" data-status=\"" +
           cell(status) + "\"";
    if (current) out += " class=\"current\" aria-current=\"page\"";
    out += ">" + cell(status) + " (" + std::to_string(n) + ")</a>";
  }
  out += "</nav><form method=\"get\" action=\"/\"><label>Status <select name=\"status\">";
  out += "<option value=\"\"";
  if (m.query.statuses.empty()) out += " selected";
  out += ">all</option>";
  for (const auto& [status, n] : choices) {
    out += "<option value=\"" + cell(status) + "\"";
    if (m.query.statuses.contains(status)) out += " selected";
    out += ">" + cell(status) + "</option>";
  }
  out += "</select></label> <button type=\"submit\">Filter</button></form>";
}

void renderJobs(const StatusPageModel& m, std::string& out) {
  out += "<section id=\"jobs\"><h2>Jobs</h2>";
  renderFilter(m, out);
  out += "<p id=\"shown\">";
  if (m.jobs.size() < m.jobs_matching) {
    out += "Showing the newest " + std::to_string(m.jobs.size()) + " of " +
           std::to_string(m.jobs_matching) + " matching jobs; " +
           std::to_string(m.jobs_matching - m.jobs.size()) +
           " more not shown: filter by status to narrow the list.";
  } else {
    out += std::to_string(m.jobs.size()) + (m.jobs.size() == 1 ? " job" : " jobs") +
           (m.query.statuses.empty() ? "" : " with this status") + ", newest first.";
  }
  out +=
      "</p><table id=\"job-table\"><thead><tr><th>ID</th><th>Status</th><th>Type</th>"
      "<th>PDF name</th><th>Age</th><th>Last poll</th></tr></thead><tbody>";
  for (const auto& job : m.jobs) {
    out += "<tr class=\"s-" + escape(percentEncode(job.status)) + "\"><td class=\"id\">" +
           cell(job.id) + "</td><td class=\"st\">" + cell(job.status) + "</td><td>" +
           cell(job.type) + "</td><td class=\"pdf\">" + cell(job.pdf_name) + "</td><td>" +
           span(job.added_at, m.now) + "</td><td>" +
           (job.last_poll_at == WallTime{} ? std::string("never")
                                           : span(job.last_poll_at, m.now) + " ago") +
           "</td></tr>";
  }
  out += "</tbody></table></section>";
}

void renderTransitions(const StatusPageModel& m, std::string& out) {
  out += "<section id=\"transitions\"><h2>Recent transitions</h2>";
  if (m.transitions.empty()) {
    out += "<p>None since start.</p></section>";
    return;
  }
  out +=
      "<table id=\"transition-table\"><thead><tr><th>When</th><th>Job</th><th>From</th>"
      "<th>To</th><th>PDF name</th></tr></thead><tbody>";
  for (const auto& t : m.transitions) {
    out += "<tr class=\"s-" + escape(percentEncode(t.to)) + "\"><td>" + timeAndAgo(t.at, m.now) +
           "</td><td class=\"id\">" + cell(t.job_id) + "</td><td>" + cell(t.from) +
           "</td><td class=\"st\">" + cell(t.to) + "</td><td>" + cell(t.pdf_name) + "</td></tr>";
  }
  out += "</tbody></table></section>";
}

void renderFailedHooks(const StatusPageModel& m, std::string& out) {
  out += "<section id=\"failed-hooks\"><h2>Failed hooks</h2>";
  if (m.failed_hooks.empty()) {
    out += "<p>None.</p></section>";
    return;
  }
  out +=
      "<table id=\"failed-hook-table\"><thead><tr><th>Run</th><th>Job</th><th>Hook</th>"
      "<th>On status</th><th>Attempts</th><th>Last error</th></tr></thead><tbody>";
  for (const auto& h : m.failed_hooks) {
    out += "<tr><td class=\"num\">" + std::to_string(h.run_id) + "</td><td class=\"id\">" +
           cell(h.job_id) + "</td><td>" + cell(h.hook) + "</td><td>" + cell(h.status) +
           "</td><td class=\"num\">" + std::to_string(h.attempts) + "</td><td class=\"mono\">" +
           cell(h.last_error) + "</td></tr>";
  }
  out += "</tbody></table></section>";
}

std::string documentStart(std::string_view title, std::optional<Millis> refresh) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  if (refresh) {
    const auto seconds = std::max<long long>(1, refresh->count() / 1000);
    out += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(seconds) + "\">";
  }
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
  out += escape(title);
  out += "</title><style>";
  out += kStyle;
  out += "</style></head><body>";
  return out;
}

}  // namespace

Result<PageQuery> parsePageQuery(std::string_view query) {
  if (query.size() > kMaxQuery) {
    return Error{"query too long (" + std::to_string(query.size()) + " bytes, at most " +
                 std::to_string(kMaxQuery) + ")"};
  }
  PageQuery out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const auto name = formDecode(pair.substr(0, eq));
    const auto value =
        formDecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!name || !value) return Error{"bad percent-encoding in the query"};
    if (*name != "status") {
      return Error{"unknown parameter \"" + name->substr(0, 64) + "\": only status= is known"};
    }
    if (value->empty()) continue;  // the form's "no choice"
    if (value->size() > kMaxStatusWord) return Error{"status value too long"};
    out.statuses.insert(*value);
    if (out.statuses.size() > kMaxFilterStatuses) {
      return Error{"too many statuses in the filter (at most " +
                   std::to_string(kMaxFilterStatuses) + ")"};
    }
  }
  return out;
}

std::string renderStatusPage(const StatusPageModel& model) {
  std::string out = documentStart("jobwatchd status", model.refresh_every);
  out += "<header><h1>jobwatchd</h1>" + healthBadge(model) + "<span>status at " +
         utcTime(model.now) + "</span></header>";
  renderProblems(model, out);
  if (!model.notes.empty()) {
    out += "<div class=\"notes\" id=\"notes\">";
    for (const auto& note : model.notes) out += "<p>" + escape(note) + "</p>";
    out += "</div>";
  }
  renderSummary(model, out);
  renderJobs(model, out);
  renderTransitions(model, out);
  renderFailedHooks(model, out);
  out += "<footer>Refreshes every " + formatDuration(model.refresh_every) +
         ". Read-only. Metrics: <a href=\"/metrics\">/metrics</a>.</footer></body></html>\n";
  return out;
}

std::string renderErrorPage(int status, std::string_view message) {
  std::string out = documentStart("jobwatchd: " + std::to_string(status), std::nullopt);
  out += "<header><h1>jobwatchd</h1></header><p id=\"error\">" + cell(message) +
         "</p><p><a href=\"/\">Back to the status page</a></p></body></html>\n";
  return out;
}

std::optional<std::string> unknownFilterStatus(const StatusPageModel& model) {
  const auto choices = filterChoices(model);
  for (const auto& status : model.query.statuses) {
    if (!choices.contains(status)) return status;
  }
  return std::nullopt;
}

metrics::PageResponse serveStatusPage(
    std::string_view query, const std::function<StatusPageModel(const PageQuery&)>& model) {
  auto parsed = parsePageQuery(query);
  if (!parsed.ok())
    return {400, "text/html; charset=utf-8", renderErrorPage(400, parsed.error().message)};
  const StatusPageModel m = model(parsed.value());
  // Without counts (the scheduler did not answer) only the vocabulary is
  // known; a status beyond it is then shown, not refused.
  if (m.status_counts) {
    if (auto unknown = unknownFilterStatus(m)) {
      std::string known;
      for (const auto& [status, n] : filterChoices(m))
        known += (known.empty() ? "" : ", ") + status;
      return {400, "text/html; charset=utf-8",
              renderErrorPage(
                  400, "unknown status \"" + *unknown + "\" in the filter; known: " + known)};
    }
  }
  return {200, "text/html; charset=utf-8", renderStatusPage(m)};
}

}  // namespace jobwatch::app
