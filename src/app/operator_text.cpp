// SPDX-License-Identifier: Apache-2.0
#include "app/operator_text.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "app/operator_json.h"

namespace jobwatch::app {
namespace {

// Columns padded to their widest cell; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      width.resize(std::max(width.size(), row.size()));
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    std::string out;
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size(); ++i) {
        out += row[i];
        if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 2, ' ');
      }
      out += '\n';
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string ageSince(WallTime now, WallTime then) {
  return shortAge(std::chrono::duration_cast<std::chrono::milliseconds>(now - then)) + " ago";
}

std::string optionalAge(WallTime now, const std::optional<WallTime>& t) {
  return t ? ageSince(now, *t) : "-";
}

std::string orDash(std::string_view s, size_t max = 40) {
  return s.empty() ? "-" : printable(s, max);
}

std::string runsTable(const std::vector<state::HookRun>& runs, WallTime now) {
  Table t({"EVENT", "HOOK", "STATE", "ATTEMPTS", "NEXT", "LAST ERROR"});
  for (const auto& run : runs) {
    std::string next = "-";
    if (run.state == state::HookRunState::kPending) {
      next = run.not_before > now
                 ? "in " + shortAge(std::chrono::duration_cast<std::chrono::milliseconds>(
                               run.not_before - now))
                 : "now";
    }
    t.add({printable(run.job_id + ":" + run.status, 160), printable(run.hook, 40),
           std::string(runStateName(run.state)), std::to_string(run.attempts), next,
           orDash(run.last_error, 100)});
  }
  return t.str();
}

// The length of the well-formed UTF-8 sequence at text[i], 0 when there is
// none (a stray continuation byte, an overlong form, a surrogate, a cut).
size_t utf8Length(std::string_view text, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char u = b(0);
  if (u < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (u >= 0xc2 && u <= 0xdf) {
    n = 2;
  } else if (u >= 0xe0 && u <= 0xef) {
    n = 3;
    if (u == 0xe0) lo = 0xa0;
    if (u == 0xed) hi = 0x9f;
  } else if (u >= 0xf0 && u <= 0xf4) {
    n = 4;
    if (u == 0xf0) lo = 0x90;
    if (u == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > text.size() || b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xbf) return 0;
  }
  return n;
}

}  // namespace

std::string printable(std::string_view text, size_t max) {
  std::string out;
  auto escape = [&out](unsigned value) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", value);
    out += buf;
  };
  for (size_t i = 0; i < text.size();) {
    const auto u = static_cast<unsigned char>(text[i]);
    const size_t n = utf8Length(text, i);
    if (u < 0x20 || u == 0x7f || n == 0) {
      escape(u);  // C0, DEL, or a byte that is not UTF-8 (a raw 0x9b is CSI too)
      ++i;
    } else if (u == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0) {
      escape(static_cast<unsigned char>(text[i + 1]));  // C1, U+0080..U+009F
      i += 2;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  if (out.size() > max) {
    size_t cut = max > 3 ? max - 3 : 0;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out = out.substr(0, cut) + "...";
  }
  return out;
}

std::string shortAge(std::chrono::milliseconds age) {
  using namespace std::chrono;
  if (age < 0ms) age = 0ms;
  if (age < 1s) return std::to_string(age.count()) + "ms";
  const auto s = duration_cast<seconds>(age).count();
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

std::string toText(const StatusReport& r) {
  std::ostringstream out;
  out << "jobwatchd " << r.version << (r.live ? "" : " (not running; read from the state store)")
      << "\n";
  out << "health:   " << (r.degraded() ? "DEGRADED" : "ok") << "\n";
  for (const auto& p : r.problems) out << "  problem: " << p << "\n";
  if (r.uptime) out << "uptime:   " << shortAge(*r.uptime) << "\n";
  for (const auto& a : r.accounts) {
    out << "account " << a.name << ": API " << (a.api_up ? "up" : "DOWN")
        << (a.auth_failing ? ", auth FAILING" : "") << ", requests in the last minute "
        << a.requests_last_minute << " of " << a.budgetText() << ", last successful poll "
        << (a.last_success ? formatTime(*a.last_success) : std::string("never")) << "\n";
  }
  out << "jobs:     " << r.jobs;
  for (const auto& [s, n] : r.jobs_by_status) out << "  " << printable(s, 40) << "=" << n;
  out << "\nhooks:    pending=" << r.hooks.pending << "  running=" << r.hooks.running
      << "  failed=" << r.hooks.failed << "\n";
  if (r.last_reload) {
    out << "reload:   " << formatTime(*r.last_reload) << (r.last_reload_ok ? " ok" : " FAILED")
        << "\n";
  }
  if (r.fleet) {
    out << "fleet:    " << r.instances.size() << (r.live ? " live" : " recorded") << " instance"
        << (r.instances.size() == 1 ? "" : "s") << "\n";
    for (const auto& i : r.instances) {
      out << "  instance " << printable(i.instance, 64) << (i.self ? " (this one)" : "")
          << ": holds " << i.jobs_held << " jobs, started " << formatTime(i.started)
          << ", last heartbeat " << formatTime(i.heartbeat) << "\n";
    }
  }
  return out.str();
}

std::string toText(const JobsReport& r) {
  Table t({"ID", "ACCOUNT", "STATUS", "TYPE", "PDF", "AGE", "LAST POLL"});
  for (const auto& j : r.jobs) {
    t.add({j.id, j.account, printable(j.status, 30), orDash(j.type, 20), orDash(j.pdf_name),
           shortAge(std::chrono::duration_cast<std::chrono::milliseconds>(r.now - j.added_at)),
           optionalAge(r.now, j.last_poll)});
  }
  return t.str();
}

std::string toText(const JobDetail& d) {
  std::ostringstream out;
  const status::Job& j = d.job;
  Table f({"FIELD", "VALUE"});
  f.add({"id", j.id});
  f.add({"account", d.account});
  f.add({"status", printable(j.status)});
  f.add({"status_raw", orDash(j.facts.status_raw, 80)});
  f.add({"source", std::string(sourceName(j.source))});
  f.add({"type", orDash(j.facts.type, 80)});
  f.add({"pdf_name", orDash(j.facts.pdf_name, 200)});
  f.add({"pdf_hash", orDash(j.facts.pdf_hash, 200)});
  f.add({"error", orDash(j.facts.error, 200)});
  f.add({"created_at", orDash(j.facts.created_at, 80)});
  f.add({"updated_at", orDash(j.facts.updated_at, 80)});
  f.add({"added_at", formatTime(j.added_at)});
  f.add({"terminal_at", j.terminal_at != WallTime{} ? formatTime(j.terminal_at) : "-"});
  f.add({"last_poll", d.last_poll ? formatTime(*d.last_poll) : "-"});
  f.add({"consecutive_errors", std::to_string(d.consecutive_errors)});
  for (const auto& [k, v] : j.labels) f.add({"label " + printable(k, 60), printable(v, 200)});
  out << f.str() << (d.live ? "" : "(daemon not running; read from the state store)\n");
  out << "\nTransitions\n";
  Table t({"AT", "FROM", "TO", "API UPDATED_AT"});
  for (const auto& e : d.transitions) {
    t.add({formatTime(e.at), orDash(e.from, 30), printable(e.to, 30), orDash(e.updated_at, 40)});
  }
  out << t.str() << "\nHook runs\n" << runsTable(d.runs, d.now) << "\nHook attempts\n";
  for (const auto& a : d.attempts) {
    out << "  " << printable(a.hook, 40) << " on " << printable(a.status, 30) << ", attempt "
        << a.attempt << ", started " << formatTime(a.started) << ", " << shortAge(a.duration)
        << ", " << a.result;
    if (a.exit_code) out << ", exit code " << *a.exit_code;
    if (!a.signal.empty()) out << ", signal " << a.signal;
    out << "\n";
    std::istringstream lines(a.output);
    for (std::string line; std::getline(lines, line);)
      out << "    | " << printable(line, 200) << "\n";
  }
  return out.str();
}

std::string toText(const HooksReport& r) {
  std::string out = runsTable(r.runs, r.now);
  if (r.truncated) out += "(more runs than shown: at most 1000 per state)\n";
  if (!r.live) out += "(daemon not running; read from the state store)\n";
  return out;
}

}  // namespace jobwatch::app
