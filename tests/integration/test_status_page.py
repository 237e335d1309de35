# SPDX-License-Identifier: Apache-2.0
"""The status page at GET / over plain HTTP with the real daemon (issue 15;
the browser test in tests/browser covers what a browser does with it): the
row cap with the filter, refused queries, a scheduler that does not answer
in time, every account with the problems when one account's key is refused,
and /metrics unchanged beside it."""
import html as html_lib
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import unittest

from harness import JOBWATCHD, DaemonTestCase, TEST_KEY, daemon_env, wait_for

REFUSED_KEY = "sk-team-b-refused-0123456789"


def fetch(url, method="GET"):
    """(status, headers, body) for any answer, 4xx/5xx included."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def page_url(daemon):
    line = daemon.wait_log("status page served")[0]
    return line.split("url=", 1)[1].split()[0].strip('"')


def job_rows(html):
    return re.findall(r'<tr class="s-[^"]*"><td class="id">([^<]*)</td>',
                      html.split('id="job-table"', 1)[1].split("</table>", 1)[0])


def account_rows(html):
    """{account: [cell texts]} from the accounts table."""
    if 'id="account-table"' not in html:
        return {}
    table = html.split('id="account-table"', 1)[1].split("</table>", 1)[0]
    rows = {}
    for name, cells in re.findall(r'<tr data-account="([^"]*)">(.*?)</tr>', table):
        rows[html_lib.unescape(name)] = [html_lib.unescape(re.sub(r"<[^>]+>", "", c))
                                         for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
    return rows


def problems(html):
    if 'id="problems"' not in html:
        return []
    box = html.split('id="problems"', 1)[1].split("</section>", 1)[0]
    return [html_lib.unescape(p) for p in re.findall(r"<li>(.*?)</li>", box)]


class StatusPageTest(DaemonTestCase):
    def test_caps_the_table_and_the_filter_narrows_it(self):
        self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - {{id: odd-one, status: FAILED, pdf_name: "a <b> & c.pdf"}}
            generate:
              - {{prefix: many-, count: 620, status: PROCESSING, type: extraction}}
            """)
        config = self.write_config(["odd-one"] + [f"many-{i}" for i in range(620)],
                                   poll={"interval": "1s", "jitter": "0", "backoff_max": "2s"})
        daemon = self.start_daemon(config)
        url = page_url(daemon)
        wait_for(lambda: daemon.metric('jobwatch_jobs{status="processing"}') == 620, timeout=30,
                 what="every job polled")

        status, headers, html = fetch(url)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        self.assertIn("default-src 'none'", headers["Content-Security-Policy"])
        self.assertEqual(len(job_rows(html)), 500)
        self.assertIn("Showing the newest 500 of 621 matching jobs; 121 more not shown", html)
        self.assertIn(">processing (620)</a>", html)
        self.assertIn('<dd id="job-count">621</dd>', html)
        self.assertLess(len(html), 400_000)

        status, _, html = fetch(url + "?status=failed")
        self.assertEqual(status, 200)
        self.assertEqual(job_rows(html), ["odd-one"])
        self.assertIn("a &lt;b&gt; &amp; c.pdf", html)
        status, _, html = fetch(url + "?status=failed&status=processing")
        self.assertEqual(len(job_rows(html)), 500)

        # Refused queries are a clean 400 saying why; the daemon carries on.
        for query, why in (("?status=bogus", 'unknown status &quot;bogus&quot;'),
                           ("?colour=red", 'unknown parameter &quot;colour&quot;'),
                           ("?status=%zz", "bad percent-encoding")):
            status, headers, html = fetch(url + query)
            self.assertEqual(status, 400, query)
            self.assertIn(why, html)
            self.assertIn("nosniff", headers["X-Content-Type-Options"])
        self.assertEqual(fetch(url + "nothing-here")[0], 404)
        self.assertEqual(fetch(url, method="POST")[0], 405)
        self.assertEqual(daemon.metric('jobwatch_jobs{status="failed"}'), 1)

        self.assertIn('<dd id="last-reload">none since start</dd>', fetch(url)[2])
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_log("configuration reloaded")
        reload_line = fetch(url)[2].split('<dd id="last-reload">', 1)[1].split("</dd>", 1)[0]
        self.assertRegex(reload_line, r"^<time>[0-9-]+ [0-9:]+Z</time> \(\d+m?s ago\), applied$")
        self.assertTrue(daemon.alive())

    def test_a_scheduler_that_does_not_answer_leaves_a_page_that_says_so(self):
        self.start_fake(f"api_key: {TEST_KEY}\njobs:\n  - {{id: job-1, status: COMPLETED}}\n")
        wedge = os.path.join(self.dir, "wedge")
        config = self.write_config(["job-1"])
        daemon = self.start_daemon(config, env=daemon_env(JOBWATCHD_TEST_WEDGE_FILE=wedge))
        url = page_url(daemon)
        wait_for(lambda: daemon.metric('jobwatch_jobs{status="completed"}') == 1,
                 what="the job polled")
        status, _, html = fetch(url)
        self.assertEqual(job_rows(html), ["job-1"])

        # A page request wakes the idle scheduler, which then finds the
        # wedge; from then on it runs nothing posted.
        open(wedge, "w").close()
        fetch(url)
        daemon.wait_log("scheduler wedged")
        started = time.monotonic()
        status, _, html = fetch(url)
        took = time.monotonic() - started
        self.assertEqual(status, 200)
        self.assertIn("the scheduler did not answer within 2s: no job list this time", html)
        self.assertEqual(job_rows(html), [])
        self.assertIn("0 pending, 0 running, 0 failed", html)  # the ledger still answers
        self.assertLess(took, 10)
        # Any well-formed filter is shown then (the statuses are not known).
        self.assertEqual(fetch(url + "?status=whatever")[0], 200)
        self.assertIn("jobwatch_build_info", daemon.scrape())  # /metrics unaffected
        os.remove(wedge)
        daemon.wait_log("scheduler no longer wedged")
        wait_for(lambda: job_rows(fetch(url)[2]) == ["job-1"], what="the job list back")

    def test_shows_every_account_and_the_problem_when_one_key_is_refused(self):
        self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - {{id: job-a, status: COMPLETED}}
              - {{id: job-b, status: COMPLETED}}
            """)
        control = f"control: {{socket: {os.path.join(self.dir, 'control.sock')}}}\n"
        config = self.write_config(["job-a", "{id: job-b, account: team-b}"], extra=f"""\
accounts:
  - name: team-b
    api_key_env: TEAM_B_KEY
    rate_limit: 2/s
""" + control)
        daemon = self.start_daemon(config, env=daemon_env(TEAM_B_KEY=REFUSED_KEY))
        url = page_url(daemon)
        refused = "API refuses the key (401/403) (account team-b)"
        wait_for(lambda: daemon.metric('jobwatch_jobs{status="completed"}') == 1,
                 what="the default account's job polled")
        wait_for(lambda: refused in problems(fetch(url)[2]), timeout=20,
                 what="the refused key on the page")

        status, _, html = fetch(url)
        self.assertEqual(status, 200)
        self.assertIn('<span class="health degraded" id="health">DEGRADED</span>', html)
        rows = account_rows(html)
        self.assertEqual(sorted(rows), ["default", "team-b"])
        # Account, API, key, requests in the last minute, budget, last successful poll.
        self.assertEqual(rows["default"][0:3], ["default", "up", "accepted"])
        self.assertGreaterEqual(int(rows["default"][3]), 1)
        self.assertEqual(rows["default"][4], "unlimited")
        self.assertRegex(rows["default"][5], r"^[0-9-]+ [0-9:]+Z \(\d+m?s ago\)$")
        self.assertEqual(rows["team-b"][0], "team-b")
        self.assertEqual(rows["team-b"][2], "refused (401/403)")
        self.assertGreaterEqual(int(rows["team-b"][3]), 1)
        self.assertEqual(rows["team-b"][4], "120")
        self.assertEqual(rows["team-b"][5], "none yet")
        self.assertEqual(job_rows(html).count("job-a") + job_rows(html).count("job-b"), 2)

        # The same report as `jobwatchd status`: every problem it names is on the page.
        r = subprocess.run([JOBWATCHD, "status", "--json", "--config", config],
                           capture_output=True, text=True, timeout=30, env=daemon_env())
        report = json.loads(r.stdout)
        self.assertFalse(report["healthy"])
        self.assertIn(refused, report["problems"])
        self.assertTrue(set(report["problems"]) <= set(problems(fetch(url)[2])),
                        (report["problems"], problems(fetch(url)[2])))
        self.assertEqual(sorted(a["name"] for a in report["accounts"]), sorted(rows))
        self.assertTrue(daemon.alive())


if __name__ == "__main__":
    unittest.main()
