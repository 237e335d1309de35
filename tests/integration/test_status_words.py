# SPDX-License-Identifier: Apache-2.0
"""An API that answers a fresh status word on every poll (issue 18 #3): the
words count as `other` in aggregate metrics, the warnings about them are
bounded and rate-limited, and only each job's own series shows its word."""
import re
import unittest

from harness import DaemonTestCase, wait_for

JOBS = 100
WORDS = 40  # per job, a new one every 100 ms


class StatusWordsTest(DaemonTestCase):
    def test_a_fresh_word_per_poll_adds_no_series_and_few_warnings(self):
        lines = ["jobs:"]
        for j in range(JOBS):
            lines.append(f"  - id: word-{j}")
            lines.append("    timeline:")
            for w in range(WORDS):
                lines.append(f"      - {{at: {w * 100}ms, status: w{j}x{w}}}")
            lines.append(f"      - {{at: {WORDS * 100}ms, status: COMPLETED}}")
        fake = self.start_fake("\n".join(lines) + "\n")
        d = self.start_daemon(self.write_config([f"word-{j}" for j in range(JOBS)],
                                                poll={"interval": "100ms", "jitter": "0"}))
        wait_for(lambda: d.metric('jobwatch_jobs{status="completed"}') == JOBS, timeout=60,
                 what="every job completed")
        changes = d.metric('jobwatch_status_changes_total{from="other",to="other"}')
        self.assertGreater(changes, JOBS * 10, "many fresh words were seen")
        text = d.scrape()
        jobs_series = [l for l in text.splitlines() if l.startswith("jobwatch_jobs{")]
        change_series = [l for l in text.splitlines()
                         if l.startswith("jobwatch_status_changes_total{")]
        self.assertLessEqual(len(jobs_series), 12, jobs_series)
        self.assertLessEqual(len(change_series), 12, change_series)
        self.assertIsNone(re.search(r'jobwatch_jobs\{status="w\d', text))
        warnings = d.lines("unrecognised job status")
        self.assertGreaterEqual(len(warnings), 1)
        self.assertLessEqual(len(warnings), 3, "at most one warning per 10 s")
        self.assertEqual(d.stop(), 0)
        self.assertGreater(fake.admin("GET", "/_admin/requests")["total"], JOBS * 10)


if __name__ == "__main__":
    unittest.main(verbosity=2)
