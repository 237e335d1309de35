# SPDX-License-Identifier: Apache-2.0
"""The status page in a real browser (issue 15): the real daemon against the
fake API, Debian's headless Chromium driven by Playwright
(status_page.mjs). The table shows the jobs, the filter works by link and by
form, the accounts table and the health are there, a screenshot is taken and is not blank, a hostile pdf_name is shown
as text and never runs, and the page refreshes itself.

Needs /usr/bin/chromium and tests/browser/node_modules (tests/tools/
install-deps.sh installs both); without them the test exits 77 (skipped)
saying what is missing. BROWSER_ARTIFACTS=DIR keeps the screenshot there."""
import json
import os
import shutil
import subprocess
import sys
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import DaemonTestCase, TEST_KEY, daemon_env, wait_for  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# A second account whose key the fake API refuses (401): the page is degraded.
REFUSED_KEY = "sk-team-b-refused-0123456789"
REFUSED_JOB = "job-refused"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'

# id -> (API status, canonical status, type, pdf_name)
JOBS = {
    "job-done": ("COMPLETED", "completed", "extraction", "report.pdf"),
    "job-xss": ("COMPLETED", "completed", "extraction", XSS),
    "job-busy": ("PROCESSING", "processing", "parse", "busy & \"quoted\".pdf"),
    "job-wait": ("queued", "queued", "parse", "later.pdf"),
    "job-bad": ("FAILED", "failed", "extraction", "broken.pdf"),
}


def yaml_string(text):
    return "'" + text.replace("'", "''") + "'"


class StatusPageBrowserTest(DaemonTestCase):
    def test_table_filter_screenshot_and_xss_probe_in_chromium(self):
        jobs_yaml = "".join(
            f"  - {{id: {job_id}, status: {api}, type: {kind}, pdf_name: {yaml_string(pdf)},"
            f" error: {yaml_string('disk <full>')}}}\n"
            for job_id, (api, _, kind, pdf) in JOBS.items())
        jobs_yaml += f"  - {{id: {REFUSED_JOB}, status: COMPLETED}}\n"
        self.start_fake(f"api_key: {TEST_KEY}\njobs:\n{jobs_yaml}")
        config = self.write_config(list(JOBS) + [f"{{id: {REFUSED_JOB}, account: team-b}}"],
                                   extra="""
            accounts:
              - name: team-b
                api_key_env: TEAM_B_KEY
                rate_limit: 2/s
            hooks:
              definitions:
                - name: notify
                  on: [failed]
                  command: ["/bin/sh", "-c", "echo 'receiver <down>' >&2; exit 4"]
                  retries: 0
            """)
        daemon = self.start_daemon(config, env=daemon_env(TEAM_B_KEY=REFUSED_KEY))
        line = daemon.wait_log("status page served")[0]
        url = line.split("url=", 1)[1].split()[0].strip('"')

        def settled():
            completed = daemon.metric('jobwatch_jobs{status="completed"}')
            failed_runs = daemon.metric('jobwatch_hook_runs_total{hook="notify",result="failure"}')
            refused = daemon.metric(
                'jobwatch_polls_total{account="team-b",result="auth_error"}') or 0
            if not (completed == 2 and failed_runs == 1 and refused >= 1):
                return False
            with urllib.request.urlopen(url, timeout=5) as r:
                return "API refuses the key" in r.read().decode()

        wait_for(settled, timeout=20,
                 what="every job polled, the hook failed and team-b's key refused")

        # Plain HTTP first: the headers that keep a browser from running
        # or loading anything.
        with urllib.request.urlopen(url, timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Security-Policy"].split(";")[0:2],
                             ["default-src 'none'", " style-src 'unsafe-inline'"])
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            html = r.read().decode()
        self.assertNotIn("<script", html)
        self.assertIn("&lt;script&gt;window.__xss=1&lt;/script&gt;", html)

        # BROWSER_ARTIFACTS=DIR keeps the screenshot for a person to look at.
        outdir = os.environ.get("BROWSER_ARTIFACTS") or os.path.join(self.dir, "browser")
        started = time.monotonic()
        run = subprocess.run(["node", os.path.join(HERE, "status_page.mjs"), url, outdir],
                             cwd=HERE, capture_output=True, text=True, timeout=180,
                             env={**os.environ, "CHROMIUM": CHROMIUM})
        elapsed = time.monotonic() - started
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"browser run took {elapsed:.1f}s (page steps {seen['elapsedMs']} ms)")

        self.assertEqual(seen["status"], 200)
        self.assertIn("default-src 'none'", seen["headers"]["content-security-policy"])
        self.assertEqual(seen["title"], "jobwatchd status")
        # The table is the jobs, with their fields as text (the refused
        # account's job never polled).
        self.assertEqual(
            sorted((r["id"], r["status"], r["type"], r["pdfName"]) for r in seen["rows"]),
            sorted([(job_id, canon, kind, pdf) for job_id, (_, canon, kind, pdf) in JOBS.items()] +
                   [(REFUSED_JOB, "unknown", "", "")]))
        self.assertIn("up", seen["summary"])
        # What `jobwatchd status` says: degraded, because team-b's key is
        # refused; both accounts in the table.
        self.assertEqual(seen["health"], "DEGRADED")
        self.assertEqual(seen["problems"], ["API refuses the key (401/403) (account team-b)"])
        accounts = {row[0]: row for row in seen["accounts"]}
        self.assertEqual(sorted(accounts), ["default", "team-b"])
        self.assertEqual(accounts["default"][1:3], ["up", "accepted"])
        self.assertEqual(accounts["default"][4], "unlimited")
        self.assertRegex(accounts["default"][5], r"\(\d+m?s ago\)$")
        self.assertEqual(accounts["team-b"][2], "refused (401/403)")
        self.assertEqual(accounts["team-b"][4:6], ["120", "none yet"])
        self.assertIn("0 pending, 0 running, 1 failed", seen["summary"])
        self.assertGreaterEqual(seen["transitions"], len(JOBS))
        self.assertEqual(len(seen["failedHooks"]), 1)
        self.assertEqual(seen["failedHooks"][0][1:5], ["job-bad", "notify", "failed", "1"])

        # The XSS probe: nothing ran, nothing was injected, the text is literal.
        for probe in (seen["probe"], seen["linkProbe"]):
            self.assertIsNone(probe["xss"])
            self.assertEqual(probe["injectedElements"], 0)
            self.assertEqual(probe["scripts"], 0)
        self.assertEqual(seen["dialogs"], [])
        self.assertIn(XSS, [r["pdfName"] for r in seen["rows"]])

        # The filter: by link, then by the form.
        self.assertTrue(seen["linkUrl"].endswith("/?status=completed"), seen["linkUrl"])
        self.assertEqual(sorted(r["id"] for r in seen["linkRows"]), ["job-done", "job-xss"])
        self.assertIn(XSS, [r["pdfName"] for r in seen["linkRows"]])
        self.assertTrue(seen["formUrl"].endswith("/?status=processing"), seen["formUrl"])
        self.assertEqual([r["id"] for r in seen["formRows"]], ["job-busy"])
        self.assertEqual(seen["refresh"]["url"], seen["formUrl"])
        self.assertEqual(seen["bogus"]["status"], 400)
        self.assertIn('unknown status "bogus"', seen["bogus"]["text"])

        # The screenshot: a real PNG of a real page, not a blank one.
        shot = seen["screenshot"]
        self.assertTrue(os.path.isfile(shot["path"]))
        self.assertEqual(os.path.getsize(shot["path"]), shot["bytes"])
        self.assertGreater(shot["bytes"], 20_000)
        self.assertEqual(shot["width"], 1280)
        self.assertGreaterEqual(shot["height"], 600)
        self.assertGreater(shot["distinctColours"], 50)
        self.assertEqual(seen["consoleErrors"], [])
        self.assertTrue(daemon.alive())


def missing_tools():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(CHROMIUM + " (apt-get install chromium)")
    if not shutil.which("node"):
        missing.append("node")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        missing.append("tests/browser/node_modules (npm ci in tests/browser)")
    return missing


if __name__ == "__main__":
    if missing_tools():
        print("skipped: missing " + ", ".join(missing_tools()))
        # The whole suite (run-tests.sh, CI) installs them: there a skip is a failure.
        sys.exit(1 if os.environ.get("JOBWATCH_NO_SKIP") else 77)
    unittest.main()
