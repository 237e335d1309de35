// SPDX-License-Identifier: Apache-2.0
// The status page renderer: query parsing, escaping of untrusted job
// fields, the status filter, the row cap (NewestJobs picks the rows), and
// how the operator's reports become the page's model.
#include "app/status_page.h"

#include <gtest/gtest.h>

#include <chrono>

#include "app/operator_source.h"
#include "app/status_page_sources.h"

namespace jobwatch::app {
namespace {

using namespace std::chrono_literals;

const WallTime kNow = WallTime(std::chrono::seconds(1'800'000'000));
const std::string kXss = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";

StatusPageModel baseModel() {
  StatusPageModel m;
  m.version = "1.2.3";
  m.now = kNow;
  m.started_at = kNow - 90s;
  m.known_statuses = {"completed", "failed", "processing", "queued", "unknown"};
  m.status_counts = std::map<std::string, size_t>{{"completed", 1}, {"processing", 1}};
  m.job_count = 2;
  m.hooks_pending = 3;
  m.hooks_running = 1;
  m.hooks_failed = 2;
  m.jobs = {{"job-a", "completed", "extraction", "a.pdf", kNow - 1h, kNow - 5s},
            {"job-b", "processing", "parse", "b.pdf", kNow - 2h, WallTime{}}};
  m.jobs_matching = 2;
  return m;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(PageQueryTest, ParsesStatusFiltersAndRefusesAnythingElse) {
  EXPECT_TRUE(parsePageQuery("").value().statuses.empty());
  EXPECT_TRUE(parsePageQuery("status=").value().statuses.empty());  // the form's empty choice
  EXPECT_EQ(parsePageQuery("status=completed").value().statuses,
            std::set<std::string>{"completed"});
  EXPECT_EQ(parsePageQuery("status=failed&status=timed_out&").value().statuses,
            (std::set<std::string>{"failed", "timed_out"}));
  EXPECT_EQ(parsePageQuery("status=%3Cb%3E+x").value().statuses, std::set<std::string>{"<b> x"});

  for (const char* bad : {"foo=1", "status=%ZZ", "status=%4", "status=a&x=", "%zz=1"}) {
    const auto parsed = parsePageQuery(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
  }
  EXPECT_NE(parsePageQuery("sort=id").error().message.find("unknown parameter \"sort\""),
            std::string::npos);
  EXPECT_FALSE(parsePageQuery("status=" + std::string(200, 'a')).ok());
  EXPECT_FALSE(parsePageQuery(std::string(5000, 'a')).ok());
  std::string many;
  for (int i = 0; i < 40; ++i) many += "status=s" + std::to_string(i) + "&";
  EXPECT_NE(parsePageQuery(many).error().message.find("too many"), std::string::npos);
}

TEST(StatusPageTest, ShowsTheSummaryTheJobsAndRefreshesItself) {
  StatusPageModel m = baseModel();
  AccountStatus account;
  account.polled = true;
  account.last_success = kNow - 3s;
  m.accounts = {account};
  m.last_reload_at = kNow - 60s;
  m.last_reload_ok = false;
  const std::string page = renderStatusPage(m);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<meta http-equiv=\"refresh\" content=\"10\">"), std::string::npos);
  EXPECT_NE(page.find("<dd id=\"version\">1.2.3</dd>"), std::string::npos);
  EXPECT_NE(page.find("<dd id=\"uptime\">1m30s"), std::string::npos);
  EXPECT_NE(page.find("<span class=\"up\">up</span>"), std::string::npos);
  EXPECT_NE(page.find("(3s ago)"), std::string::npos);
  EXPECT_NE(page.find("3 pending, 1 running, 2 failed"), std::string::npos);
  EXPECT_NE(page.find("failed: the previous configuration is still running"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"id\">job-a</td><td class=\"st\">completed</td>"
                      "<td>extraction</td><td class=\"pdf\">a.pdf</td><td>1h</td><td>5s ago</td>"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("<td>2h</td><td>never</td>"), std::string::npos);
  EXPECT_NE(page.find("2 jobs, newest first."), std::string::npos);
  // No script, no external asset: only the two local links.
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
}

TEST(StatusPageTest, SaysWhatItDoesNotKnow) {
  StatusPageModel m = baseModel();
  m.hooks_failed.reset();
  m.accounts = {AccountStatus{}};  // not polled yet
  m.notes = {"the scheduler did not answer within 2s: no job list this time"};
  const std::string page = renderStatusPage(m);
  EXPECT_NE(page.find("not polled yet"), std::string::npos);
  EXPECT_NE(page.find("none yet"), std::string::npos);
  EXPECT_NE(page.find("none since start"), std::string::npos);
  EXPECT_NE(page.find(", ? failed"), std::string::npos);
  EXPECT_NE(page.find("<p>the scheduler did not answer within 2s"), std::string::npos);
}

TEST(StatusPageTest, EscapesEveryUntrustedFieldEverywhere) {
  StatusPageModel m = baseModel();
  const std::string weird_status = "we\"ird<b>'";
  m.jobs = {{kXss, weird_status, kXss, kXss, kNow, kNow}};
  (*m.status_counts)[weird_status] = 1;
  m.transitions = {{kNow, kXss, "queued", weird_status, kXss}};
  m.failed_hooks = {{7, kXss, kXss, weird_status, 3, kXss + "\x01\x1b[31m"}};
  m.notes = {kXss};
  m.version = kXss;
  const std::string page = renderStatusPage(m);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<b>"), std::string::npos);
  EXPECT_EQ(page.find('\x01'), std::string::npos);
  EXPECT_EQ(page.find('\x1b'), std::string::npos);
  const std::string escaped =
      "&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__xss=2&quot;"
      "&gt;";
  // version, note, job id/type/pdf, transition job/pdf, hook job/name/error
  EXPECT_EQ(occurrences(page, escaped), 10u) << page;
  // The weird status: escaped as text, percent-encoded in links and classes.
  EXPECT_NE(page.find("href=\"/?status=we%22ird%3Cb%3E%27\""), std::string::npos) << page;
  EXPECT_NE(page.find("<tr class=\"s-we%22ird%3Cb%3E%27\">"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"st\">we&quot;ird&lt;b&gt;&#39;</td>"), std::string::npos);
  EXPECT_NE(page.find("<option value=\"we&quot;ird&lt;b&gt;&#39;\">"), std::string::npos);
}

TEST(StatusPageTest, LongFieldsAreClippedSoThePageStaysBounded) {
  StatusPageModel m = baseModel();
  const std::string long_name = std::string(1000, 'x') + "\xC3\xA9";
  m.jobs = {
      {"job-a", "completed", "t", std::string(255, 'y') + "\xC3\xA9" + long_name, kNow, kNow}};
  const std::string page = renderStatusPage(m);
  // 255 y then the 2-byte é would cross 256: cut before it.
  EXPECT_NE(page.find("<td class=\"pdf\">" + std::string(255, 'y') + "\xE2\x80\xA6</td>"),
            std::string::npos);
  EXPECT_EQ(page.find(std::string(300, 'x')), std::string::npos);
}

TEST(StatusPageTest, FilterLinksCountEveryStatusAndMarkTheCurrentOne) {
  StatusPageModel m = baseModel();
  m.query.statuses = {"completed"};
  m.jobs.resize(1);
  m.jobs_matching = 1;
  const std::string page = renderStatusPage(m);
  EXPECT_NE(page.find("<a href=\"/\">all (2)</a>"), std::string::npos) << page;
  EXPECT_NE(page.find("<a href=\"/?status=completed\" data-status=\"completed\" "
                      "class=\"current\" aria-current=\"page\">completed (1)</a>"),
            std::string::npos);
  EXPECT_NE(page.find(">failed (0)</a>"), std::string::npos);
  EXPECT_NE(page.find("<option value=\"completed\" selected>"), std::string::npos);
  EXPECT_NE(page.find("1 job with this status, newest first."), std::string::npos);
}

TEST(StatusPageTest, ACappedTableSaysHowManyMoreThereAre) {
  StatusPageModel m = baseModel();
  m.jobs_matching = 1234;
  const std::string page = renderStatusPage(m);
  EXPECT_NE(page.find("Showing the newest 2 of 1234 matching jobs; 1232 more not shown: filter "
                      "by status to narrow the list."),
            std::string::npos);
}

TEST(ServeStatusPageTest, BadQueriesAndUnknownStatusesAre400) {
  int asked = 0;
  auto model = [&](const PageQuery& query) {
    ++asked;
    StatusPageModel m = baseModel();
    m.query = query;
    return m;
  };
  const auto bad = serveStatusPage("colour=red", model);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("unknown parameter &quot;colour&quot;"), std::string::npos);
  EXPECT_EQ(asked, 0);

  const auto unknown = serveStatusPage("status=%3Cscript%3E", model);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown status &quot;&lt;script&gt;&quot; in the filter; known: "
                              "completed, failed, processing, queued, unknown"),
            std::string::npos)
      << unknown.body;
  EXPECT_EQ(unknown.body.find("<script>"), std::string::npos);
  EXPECT_EQ(unknown.body.find("http-equiv"), std::string::npos);  // an error does not refresh

  EXPECT_EQ(serveStatusPage("status=queued", model).status, 200);  // known, no job has it
  const auto ok = serveStatusPage("", model);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.content_type, "text/html; charset=utf-8");

  // Without counts (the scheduler did not answer) any well-formed status is shown.
  auto no_counts = [&](const PageQuery& query) {
    StatusPageModel m = model(query);
    m.status_counts.reset();
    return m;
  };
  EXPECT_EQ(serveStatusPage("status=whatever", no_counts).status, 200);
}

scheduler::JobRecord record(const std::string& id, const std::string& status, WallTime added) {
  scheduler::JobRecord job;
  job.id = id;
  job.status = status;
  job.added_at = added;
  job.facts.pdf_name = id + ".pdf";
  return job;
}

TEST(NewestJobsTest, KeepsTheNewestMatchingRowsUpToTheCap) {
  std::vector<scheduler::JobRecord> jobs;
  for (int i = 0; i < 20; ++i) {
    jobs.push_back(record("job-" + std::to_string(i), i % 2 ? "completed" : "queued",
                          kNow - std::chrono::minutes(i * 7 % 20)));
  }
  JobsFilter all;
  NewestJobs everything(all, 100);
  for (const auto& job : jobs) everything.offer(job, "default");
  EXPECT_EQ(everything.matching(), 20u);
  const auto rows = everything.take();
  ASSERT_EQ(rows.size(), 20u);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GE(rows[i - 1]->added_at, rows[i]->added_at);

  JobsFilter completed;
  completed.statuses = {"completed"};
  NewestJobs capped(completed, 3);
  for (const auto& job : jobs) capped.offer(job, "default");
  EXPECT_EQ(capped.matching(), 10u);
  const auto top = capped.take();
  ASSERT_EQ(top.size(), 3u);
  // Odd i, newest = smallest (i * 7 % 20) among odd i: 1->7, 3->1, 5->15, 7->9, 9->3, 11->17,
  // 13->11, 15->5, 17->19, 19->13: minutes 1 (job-3), 3 (job-9), 5 (job-15).
  EXPECT_EQ(top[0]->id, "job-3");
  EXPECT_EQ(top[1]->id, "job-9");
  EXPECT_EQ(top[2]->id, "job-15");
  EXPECT_EQ(top[2]->facts.pdf_name, "job-15.pdf");
  EXPECT_EQ(top[0]->status, "completed");

  NewestJobs none(completed, 0);
  for (const auto& job : jobs) none.offer(job, "default");
  EXPECT_EQ(none.matching(), 10u);
  EXPECT_TRUE(none.take().empty());
}

TEST(StatusPageSourcesTest, TheSummaryComesFromTheStatusReport) {
  const WallTime start = kNow - 90s;
  StatusReport report;
  report.live = true;
  report.started_at = start;
  report.scheduler_answered = true;
  report.jobs_by_status = {{"queued", 2}};
  report.jobs = 2;
  report.known_statuses = {"queued", "completed"};
  report.hooks = {3, 1, 2};
  AccountStatus account;
  report.accounts.push_back(account);  // not polled yet
  StatusPageModel empty;
  addStatus(report, empty);
  EXPECT_EQ(empty.started_at, start);
  ASSERT_EQ(empty.accounts.size(), 1u);
  EXPECT_FALSE(empty.accounts.front().polled);
  EXPECT_FALSE(empty.accounts.front().last_success.has_value());
  EXPECT_EQ(empty.problems, std::vector<std::string>{});  // healthy
  EXPECT_FALSE(empty.last_reload_at.has_value());
  EXPECT_EQ(empty.known_statuses, (std::vector<std::string>{"queued", "completed"}));
  EXPECT_EQ(empty.status_counts, (std::map<std::string, size_t>{{"queued", 2}}));
  EXPECT_EQ(empty.job_count, 2u);
  EXPECT_EQ(empty.hooks_pending, 3u);
  EXPECT_EQ(empty.hooks_running, 1u);
  EXPECT_EQ(empty.hooks_failed, 2u);

  report.accounts.front().polled = true;
  report.accounts.front().api_up = false;
  report.accounts.front().last_success = start + 5s;
  report.last_reload = start + 10s;
  report.last_reload_ok = false;
  StatusPageModel m;
  addStatus(report, m);
  EXPECT_EQ(m.accounts.front().api_up, false);
  EXPECT_EQ(m.accounts.front().last_success, start + 5s);
  EXPECT_EQ(m.last_reload_at, start + 10s);
  EXPECT_FALSE(m.last_reload_ok);

  // A scheduler that did not answer: no counts, so any filter is shown.
  report.scheduler_answered = false;
  StatusPageModel silent;
  addStatus(report, silent);
  EXPECT_FALSE(silent.status_counts.has_value());
}

TEST(StatusPageSourcesTest, JobsTransitionsAndFailedHooksComeFromTheReports) {
  JobsReport jobs;
  jobs.matching = 7;
  for (const auto& [id, minutes] : {std::pair{"a", 30}, {"b", 10}, {"c", 20}}) {
    JobRow row;
    row.id = id;
    row.status = "queued";
    row.pdf_name = std::string(id) + ".pdf";
    row.added_at = kNow - std::chrono::minutes(minutes);
    if (row.id == "b") row.last_poll = kNow - 5s;
    jobs.jobs.push_back(row);
  }
  StatusPageModel m;
  addJobs(jobs, m);
  ASSERT_EQ(m.jobs.size(), 3u);
  EXPECT_EQ(m.jobs[0].id, "b");  // newest first
  EXPECT_EQ(m.jobs[1].id, "c");
  EXPECT_EQ(m.jobs[2].id, "a");
  EXPECT_EQ(m.jobs[0].last_poll_at, kNow - 5s);
  EXPECT_EQ(m.jobs[1].last_poll_at, WallTime{});  // never polled
  EXPECT_EQ(m.jobs[2].pdf_name, "a.pdf");
  EXPECT_EQ(m.jobs_matching, 7u);

  std::vector<RecentTransition> transitions;
  for (int i = 0; i < 3; ++i) {
    state::TransitionEntry entry{"job-1", "from", "s" + std::to_string(i),
                                 kNow - std::chrono::seconds(i), ""};
    transitions.push_back({entry, "job-1.pdf"});
  }
  addTransitions(transitions, m);
  ASSERT_EQ(m.transitions.size(), 3u);
  EXPECT_EQ(m.transitions.front().to, "s0");  // as read: newest first
  EXPECT_EQ(m.transitions.front().at, kNow);
  EXPECT_EQ(m.transitions.back().to, "s2");
  EXPECT_EQ(m.transitions.front().pdf_name, "job-1.pdf");

  HooksReport hooks;
  state::HookRun run;
  run.run_id = 9;
  run.job_id = "job-1";
  run.hook = "notify";
  run.status = "failed";
  run.attempts = 4;
  run.last_error = "exit 4";
  run.state = state::HookRunState::kFailed;
  hooks.runs.push_back(run);
  addFailedHooks(hooks, m);
  ASSERT_EQ(m.failed_hooks.size(), 1u);
  EXPECT_EQ(m.failed_hooks[0].run_id, 9);
  EXPECT_EQ(m.failed_hooks[0].hook, "notify");
  EXPECT_EQ(m.failed_hooks[0].attempts, 4);
  EXPECT_EQ(m.failed_hooks[0].last_error, "exit 4");
}

// Two accounts, the second's key refused: the report as OperatorView::status
// makes it.
StatusReport twoAccountsOneDown() {
  StatusReport report;
  report.live = true;
  report.started_at = kNow - 90s;
  report.scheduler_answered = true;
  AccountStatus a;
  a.polled = true;
  a.budget_per_minute = 300;
  a.requests_last_minute = 42;
  a.last_success = kNow - 2s;
  AccountStatus b;
  b.name = "team-b";
  b.polled = true;
  b.api_up = false;
  b.auth_failing = true;
  b.requests_last_minute = 7;
  report.accounts = {a, b};
  report.problems = {"API unreachable or failing (account team-b)",
                     "API refuses the key (401/403) (account team-b)"};
  return report;
}

std::string between(const std::string& text, const std::string& from, const std::string& to) {
  const size_t start = text.find(from);
  if (start == std::string::npos) return "";
  const size_t end = text.find(to, start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST(StatusPageTest, ShowsEveryAccountAndTheProblemsWhenOneIsDown) {
  StatusPageModel m = baseModel();
  addStatus(twoAccountsOneDown(), m);
  const std::string page = renderStatusPage(m);
  const std::string accounts = between(page, "<table id=\"account-table\">", "</table>");
  EXPECT_EQ(occurrences(accounts, "<tr data-account="), 2u) << page;
  EXPECT_NE(accounts.find("<tr data-account=\"default\"><td class=\"mono\">default</td>"
                          "<td><span class=\"up\">up</span></td><td>accepted</td>"
                          "<td class=\"num\">42</td><td class=\"num\">300</td>"
                          "<td><time>"),
            std::string::npos)
      << accounts;
  EXPECT_NE(accounts.find("(2s ago)"), std::string::npos);
  {  // answering, but refusing the key: "up", not in green
    StatusPageModel refused = baseModel();
    StatusReport report = twoAccountsOneDown();
    report.accounts.back().api_up = true;
    addStatus(report, refused);
    const std::string rows =
        between(renderStatusPage(refused), "<table id=\"account-table\">", "</table>");
    EXPECT_NE(rows.find("<td><span>up</span></td><td><span class=\"down\">refused (401/403)"),
              std::string::npos)
        << rows;
  }
  EXPECT_NE(accounts.find("<tr data-account=\"team-b\"><td class=\"mono\">team-b</td>"
                          "<td><span class=\"down\">down</span></td>"
                          "<td><span class=\"down\">refused (401/403)</span></td>"
                          "<td class=\"num\">7</td><td class=\"num\">unlimited</td>"
                          "<td>none yet</td></tr>"),
            std::string::npos)
      << accounts;
  // Health at a glance, and why, above everything else.
  EXPECT_NE(page.find("<span class=\"health degraded\" id=\"health\">DEGRADED</span>"),
            std::string::npos);
  const std::string problems = between(page, "<section class=\"problems\"", "</section>");
  EXPECT_NE(problems.find("<h2>Degraded: 2 problems</h2>"), std::string::npos) << page;
  EXPECT_NE(problems.find("<li>API refuses the key (401/403) (account team-b)</li>"),
            std::string::npos);
  EXPECT_LT(page.find("id=\"problems\""), page.find("id=\"summary\""));
  EXPECT_EQ(page.find("id=\"instance-table\""), std::string::npos);  // not a fleet

  // Healthy: no problems box; no report at all: health unknown.
  StatusReport healthy = twoAccountsOneDown();
  healthy.problems.clear();
  StatusPageModel ok = baseModel();
  addStatus(healthy, ok);
  const std::string ok_page = renderStatusPage(ok);
  EXPECT_NE(ok_page.find("<span class=\"health ok\" id=\"health\">ok</span>"), std::string::npos);
  EXPECT_EQ(ok_page.find("id=\"problems\""), std::string::npos);
  const std::string unknown = renderStatusPage(baseModel());
  EXPECT_NE(unknown.find(">health unknown</span>"), std::string::npos);
  EXPECT_NE(unknown.find("Not known: the scheduler did not answer."), std::string::npos);
}

TEST(StatusPageTest, ShowsTheFleetsInstances) {
  StatusReport report = twoAccountsOneDown();
  report.fleet = true;
  report.instances = {{"host-a:101", 12, kNow - 1h, kNow - 1s, true},
                      {"host-b:202", 30, kNow - 2h, kNow - 4s, false}};
  StatusPageModel m = baseModel();
  addStatus(report, m);
  const std::string page = renderStatusPage(m);
  const std::string instances = between(page, "<table id=\"instance-table\">", "</table>");
  EXPECT_EQ(occurrences(instances, "<tr>"), 3u) << page;  // the header and two rows
  EXPECT_NE(instances.find("<td class=\"mono\">host-a:101 (this one)</td><td class=\"num\">12"
                           "</td><td><time>"),
            std::string::npos)
      << instances;
  EXPECT_NE(instances.find("(1h ago)</td><td><time>"), std::string::npos);
  EXPECT_NE(instances.find("host-b:202</td><td class=\"num\">30</td>"), std::string::npos);
  EXPECT_NE(instances.find("(4s ago)"), std::string::npos);
  EXPECT_NE(page.find("held by this instance"), std::string::npos);

  report.instances.clear();
  report.problems = {"state store unreachable: not polling (connection refused)"};
  StatusPageModel lost = baseModel();
  addStatus(report, lost);
  const std::string lost_page = renderStatusPage(lost);
  EXPECT_NE(lost_page.find("No live instance known."), std::string::npos);
  EXPECT_NE(lost_page.find("<li>state store unreachable: not polling (connection refused)</li>"),
            std::string::npos);
}

TEST(StatusPageTest, EscapesAccountNamesProblemsAndInstances) {
  StatusReport report = twoAccountsOneDown();
  report.accounts[1].name = kXss;
  report.problems = {"API refuses the key (401/403) (account " + kXss + ")", kXss + "\x01"};
  report.fleet = true;
  report.instances = {{kXss, 1, kNow, kNow, true}};
  StatusPageModel m = baseModel();
  addStatus(report, m);
  const std::string page = renderStatusPage(m);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find('\x01'), std::string::npos);
  const std::string escaped =
      "&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img src=x onerror=&quot;window.__xss=2&quot;"
      "&gt;";
  // the account's attribute and cell, two problems, the instance
  EXPECT_EQ(occurrences(page, escaped), 5u) << page;
  EXPECT_NE(page.find("<tr data-account=\"" + escaped + "\">"), std::string::npos);
}

}  // namespace
}  // namespace jobwatch::app
