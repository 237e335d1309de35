# SPDX-License-Identifier: Apache-2.0
"""Hooks while another process holds the state database locked (issue 18
#2): timeouts, reaping and durations must not wait for the disk."""
import os
import sqlite3
import time
import unittest

from harness import DaemonTestCase, TEST_KEY, wait_for

# Records when it started and when its SIGTERM came, then sleeps far past
# its timeout.
SLOW_HOOK = """#!/bin/sh
dir="$1"
trap 'date +%s.%N > "$dir/slow.term"; exit 143' TERM
date +%s.%N > "$dir/slow.start"
sleep 60 &
wait
"""

THREE_SECOND_HOOK = """#!/bin/sh
date +%s.%N > "$1/three.start"
sleep 3
"""

LOCK_SECONDS = 10


class HooksWhileDatabaseLockedTest(DaemonTestCase):
    def script(self, name, text):
        path = self.write(name, text)
        os.chmod(path, 0o755)
        return path

    def read_time(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return float(f.read())

    def test_timeout_and_duration_hold_while_the_database_is_locked(self):
        self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - {{id: job-busy, status: COMPLETED}}
            """)
        slow = self.script("slow.sh", SLOW_HOOK)
        three = self.script("three.sh", THREE_SECOND_HOOK)
        config = self.write_config(["job-busy"], extra=f"""\
hooks:
  max_concurrent: 4
  definitions:
    - {{name: slow, on: [completed], command: ["{slow}", "{self.dir}"], timeout: 5s,
       retries: 0}}
    - {{name: three, on: [completed], command: ["{three}", "{self.dir}"], timeout: 30s,
       retries: 0}}
""")
        d = self.start_daemon(config)
        wait_for(lambda: all(os.path.exists(os.path.join(self.dir, f))
                             for f in ("slow.start", "three.start")),
                 timeout=15, what="both hooks to start")

        # An operator's tool takes the write lock right after the hooks
        # started, and holds it for LOCK_SECONDS.
        db = sqlite3.connect(os.path.join(self.dir, "state.db"), timeout=10,
                             isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        term_path = os.path.join(self.dir, "slow.term")
        try:
            wait_for(lambda: os.path.exists(term_path) and os.path.getsize(term_path) > 0,
                     timeout=LOCK_SECONDS, what="the slow hook's SIGTERM")
            term_during_lock = time.monotonic() - locked_at < LOCK_SECONDS
            time.sleep(max(0.0, LOCK_SECONDS - (time.monotonic() - locked_at)))
        finally:
            db.execute("COMMIT")
            db.close()

        term_after = self.read_time("slow.term") - self.read_time("slow.start")
        self.assertTrue(term_during_lock)
        self.assertGreater(term_after, 4.0)
        self.assertLess(term_after, 6.0, "SIGTERM waited for the disk")

        lines = d.wait_log("hook succeeded hook=three", timeout=20)
        duration = float(lines[0].split("duration=", 1)[1].split()[0].rstrip("s"))
        self.assertGreaterEqual(duration, 2.9)
        self.assertLess(duration, 4.0, "the duration includes waiting for the disk")
        # The same duration in the histogram (one observation).
        self.assertEqual(d.metric('jobwatch_hook_duration_seconds_count{hook="three"}'), 1)
        total = d.metric('jobwatch_hook_duration_seconds_sum{hook="three"}')
        self.assertGreaterEqual(total, 2.9)
        self.assertLess(total, 4.0)

        # Once the lock is gone, both outcomes reach the ledger.
        def ledger():
            conn = sqlite3.connect(os.path.join(self.dir, "state.db"), timeout=10)
            try:
                return conn.execute("SELECT hook, state, attempts FROM hook_runs "
                                    "ORDER BY hook").fetchall()
            finally:
                conn.close()
        # states: 2 succeeded, 3 failed
        wait_for(lambda: ledger() == [("slow", 3, 1), ("three", 2, 1)], timeout=20,
                 what="both outcomes in the ledger")
        self.assertIn("hook timed out; terminating its process group hook=slow", d.text())
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
