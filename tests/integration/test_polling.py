# SPDX-License-Identifier: Apache-2.0
"""The real jobwatchd polling the real fake API (issue: Core)."""
import json
import signal
import time
import unittest

from harness import DaemonTestCase, TEST_KEY, daemon_env, wait_for


class PollingTest(DaemonTestCase):
    def test_lifecycle_yields_two_change_lines_then_no_more_requests(self):
        fake = self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - id: job-life
                type: extraction
                pdf_name: financial_report.pdf
                timeline:
                  - {{at: 0s, status: queued}}
                  - {{at: 600ms, status: PROCESSING}}
                  - {{at: 1200ms, status: COMPLETED}}
              - id: job-tick
                status: PROCESSING
            """)
        d = self.start_daemon(self.write_config(["job-life", "job-tick"]))
        d.wait_log("to=completed")
        changes = d.lines("status change")
        self.assertEqual(len(changes), 2, d.text())
        self.assertIn("from=queued to=processing", changes[0])
        self.assertIn("from=processing to=completed", changes[1])
        for line in changes:
            self.assertIn("job_id=job-life", line)
            self.assertIn("type=extraction", line)
            self.assertIn("pdf_name=financial_report.pdf", line)
            self.assertIn("since_added=", line)
        d.wait_log("job seen", count=2)
        self.assertEqual(len(d.lines("job seen")), 2)
        # Terminal: the fake API must not hear about this job again, while
        # the job still running is polled several more times.
        count = fake.requests_for("job-life")["count"]
        ticks = fake.requests_for("job-tick")["count"]
        wait_for(lambda: fake.requests_for("job-tick")["count"] >= ticks + 5,
                 what="five more polls of the unfinished job")
        self.assertEqual(fake.requests_for("job-life")["count"], count)
        self.assertEqual(d.stop(), 0)
        self.assertIn("stopped", d.text())

    def test_failed_job_logs_the_api_error(self):
        self.start_fake("""
            jobs:
              - id: job-bad
                error: "OCR engine crashed"
                timeline:
                  - {at: 0s, status: PROCESSING}
                  - {at: 300ms, status: FAILED}
            """)
        d = self.start_daemon(self.write_config(["job-bad"]))
        line = d.wait_log("to=failed")[0]
        self.assertIn('error="OCR engine crashed"', line)
        self.assertEqual(d.stop(), 0)

    def test_wrong_key_keeps_daemon_alive_and_changes_nothing(self):
        fake = self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - {{id: job-auth, status: COMPLETED}}
            """)
        d = self.start_daemon(self.write_config(["job-auth"]), env=daemon_env(key="wrong-key-42"))
        d.wait_log("API rejected the key")
        wait_for(lambda: fake.requests_for("job-auth")["count"] >= 1, what="a poll")
        self.assertTrue(d.alive())
        self.assertEqual(d.lines("status change") + d.lines("job seen"), [])
        # The key is fixed on the API side: the job resumes after backoff_max (2 s).
        fake.admin("POST", "/_admin/key?value=wrong-key-42")
        d.wait_log("to=completed", timeout=10)
        self.assertNotIn("wrong-key-42", d.text())
        self.assertEqual(d.stop(), 0)

    def test_three_404s_make_not_found(self):
        fake = self.start_fake("""
            jobs:
              - {id: job-known, status: PROCESSING}
            """)
        d = self.start_daemon(self.write_config(["job-missing"]))
        line = d.wait_log("to=not_found")[0]
        self.assertIn("job_id=job-missing", line)
        self.assertEqual(fake.requests_for("job-missing")["count"], 3)
        self.assertEqual(d.stop(), 0)

    def test_429_with_retry_after_pauses_all_polling(self):
        fake = self.start_fake("""
            jobs:
              - id: job-rl
                status: PROCESSING
                faults:
                  - {kind: http, code: 429, retry_after: "2", count: 1}
              - {id: job-other, status: PROCESSING}
            """)
        d = self.start_daemon(self.write_config(["job-rl", "job-other"]))
        d.wait_log("pausing all polls")
        wait_for(lambda: fake.requests_for("job-rl")["count"] >= 2, timeout=10,
                 what="polling to resume")
        rl = fake.requests_for("job-rl")["times"]
        paused_at = rl[0]
        self.assertGreaterEqual(rl[1] - paused_at, 1.95, rl)
        other = fake.requests_for("job-other")["times"]
        # paused_at is when the fake API received the request it answered
        # with 429; a poll the daemon started before that answer reached it
        # (up to a few hundred ms later under ThreadSanitizer) is not a
        # request during the pause.
        during = [t for t in other if paused_at + 0.3 < t < paused_at + 1.95]
        self.assertEqual(during, [], "no request for any job during Retry-After")
        self.assertEqual(d.stop(), 0)

    def test_truncated_body_is_logged_and_survived(self):
        self.start_fake("""
            jobs:
              - id: job-trunc
                status: COMPLETED
                faults:
                  - {kind: truncated, count: 2}
            """)
        d = self.start_daemon(self.write_config(["job-trunc"]))
        line = d.wait_log("poll failed")[0]
        self.assertIn("result=parse_error", line)
        d.wait_log("to=completed", timeout=15)
        self.assertTrue(d.alive())
        self.assertEqual(d.stop(), 0)

    def test_json_log_format_is_one_object_per_line_and_never_shows_the_key(self):
        self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - {{id: job-json, pdf_name: "a \\"quoted\\" name.pdf", status: COMPLETED}}
            """)
        d = self.start_daemon(self.write_config(["job-json"], log_format="json", log_level="trace"))
        d.wait_log('"to":"completed"')
        self.assertEqual(d.stop(), 0)
        text = d.text()
        self.assertNotIn(TEST_KEY, text)
        records = [json.loads(line) for line in text.splitlines()]
        seen = [r for r in records if r.get("to") == "completed"]
        self.assertEqual(seen[0]["job_id"], "job-json")
        self.assertEqual(seen[0]["pdf_name"], 'a "quoted" name.pdf')
        self.assertTrue(any(r.get("msg") == "poll" for r in records), "trace lines expected")

    def test_sigint_stops_cleanly_with_polls_in_flight(self):
        fake = self.start_fake("""
            jobs:
              - id: job-slow
                status: PROCESSING
                faults:
                  - {kind: delay, ms: 800}
            """)
        d = self.start_daemon(self.write_config(["job-slow"]))
        d.wait_log("jobwatchd started")
        # A poll has started (the fake API holds it 800 ms): the stop must
        # wait for it, not drop it.
        wait_for(lambda: fake.requests_for("job-slow")["count"] >= 1, what="a poll in flight")
        t0 = time.monotonic()
        self.assertEqual(d.stop(signal.SIGINT), 0)
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
