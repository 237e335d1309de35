# SPDX-License-Identifier: Apache-2.0
"""Overdue jobs with the real daemon (SPEC "Overdue jobs"): the event is
raised once per job -- log line, gauge, hook -- and not again after a
restart; polling goes on."""
import os
import sqlite3
import unittest

from harness import DaemonTestCase, wait_for

HOOK = """#!/bin/sh
echo "$JOBWATCH_EVENT_ID $JOBWATCH_STATUS $JOBWATCH_PREVIOUS_STATUS" >> "$1/journal"
"""


class OverdueTest(DaemonTestCase):
    def test_overdue_is_raised_once_and_remembered_across_a_restart(self):
        self.start_fake("""
            jobs:
              - id: job-late
                type: extraction
                created_at: "2024-01-15T10:30:00.000Z"
                timeline:
                  - {at: 0s, status: PROCESSING}
              - id: job-fresh
                type: extraction
                timeline:
                  - {at: 0s, status: PROCESSING}
            """)
        hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(hookdir)
        hook = self.write("hook.sh", HOOK)
        os.chmod(hook, 0o755)
        config = self.write_config(["job-late", "job-fresh"], poll={"overdue_after": "1h"}, extra=f"""\
hooks:
  definitions:
    - name: late
      on: [overdue]
      command: ["{hook}", "{hookdir}"]
""")
        journal = os.path.join(hookdir, "journal")
        d = self.start_daemon(config)
        wait_for(lambda: os.path.exists(journal), what="the overdue hook")
        d.wait_log("job overdue")
        self.assertEqual(d.metric('jobwatch_jobs_overdue{account="default"}'), 1)
        self.assertEqual(d.stop(), 0)
        with open(journal) as f:
            self.assertEqual(f.read(), "job-late:overdue overdue processing\n")
        self.assertEqual(len(d.lines("job overdue")), 1, "once per job, though polled on")

        # A restart remembers it: no second log line, hook run or event.
        d2 = self.start_daemon(config, name="jobwatchd2")
        d2.wait_log("metrics served")
        wait_for(lambda: d2.metric('jobwatch_jobs_overdue{account="default"}') == 1,
                 what="the gauge restored from the state file")
        wait_for(lambda: (d2.metric('jobwatch_polls_total{account="default",result="ok"}') or 0) >= 6,
                 what="a few polls after the restart")
        self.assertEqual(d2.stop(), 0)
        self.assertEqual(d2.lines("job overdue"), [])
        with open(journal) as f:
            self.assertEqual(f.read(), "job-late:overdue overdue processing\n")
        db = sqlite3.connect(os.path.join(self.dir, "state.db"))
        try:
            self.assertEqual(db.execute("SELECT id, overdue, terminal FROM jobs ORDER BY id")
                             .fetchall(), [("job-fresh", 0, 0), ("job-late", 1, 0)])
        finally:
            db.close()


if __name__ == "__main__":
    unittest.main()
