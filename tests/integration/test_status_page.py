# SPDX-License-Identifier: Apache-2.0
"""The status page at GET / over plain HTTP with the real daemon (issue 15;
the browser test in tests/browser covers what a browser does with it): the
row cap with the filter, refused queries, a scheduler that does not answer
in time, and /metrics unchanged beside it."""
import os
import re
import signal
import time
import urllib.error
import urllib.request
import unittest

from harness import DaemonTestCase, TEST_KEY, daemon_env, wait_for


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


if __name__ == "__main__":
    unittest.main()
