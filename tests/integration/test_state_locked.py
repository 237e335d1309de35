# SPDX-License-Identifier: Apache-2.0
"""A state database another process holds locked at start (issue 18 #1).

An operator's sqlite3 shell in a transaction, or a backup tool, holds a write
lock on state.db while jobwatchd starts. That is a runtime condition, not bad
input: jobwatchd waits (saying so in the log), starts once the lock is gone,
and if it is held beyond its bound (30 s) exits 3, which the unit restarts
(RestartPreventExitStatus=1 2 would leave it down for exit 1).
"""
import os
import sqlite3
import time
import unittest

from harness import DaemonTestCase, TEST_KEY, wait_for

JOB = "locked-1"


class StateLockedTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - id: {JOB}
                timeline:
                  - {{at: 0s, status: PROCESSING}}
            """)
        self.config = self.write_config([JOB])
        # A first run makes state.db (WAL mode, as in service).
        first = self.start_daemon(self.config, name="first")
        first.wait_log("job seen")
        self.assertEqual(first.stop(), 0)
        self.db = os.path.join(self.dir, "state.db")
        self.assertTrue(os.path.exists(self.db))

    def hold_lock(self):
        """BEGIN EXCLUSIVE from another process's point of view: our own
        connection, as the sqlite3 shell would hold it."""
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=0)
        conn.execute("BEGIN EXCLUSIVE")
        return conn

    def test_start_waits_for_a_lock_and_goes_on_once_it_is_released(self):
        conn = self.hold_lock()
        d = self.start_daemon(self.config)
        # SQLite's own busy timeout (5 s) passes, then jobwatchd says what it
        # waits for - where it used to exit 1.
        d.wait_log("state database is locked by another process; waiting", timeout=20)
        self.assertTrue(d.alive(), d.text())
        held_until = time.monotonic()
        conn.execute("ROLLBACK")
        conn.close()
        d.wait_log("metrics served", timeout=20)
        self.assertLess(time.monotonic() - held_until, 15, d.text())
        d.wait_log("state loaded")
        self.assertTrue(d.alive())
        self.assertEqual(d.stop(), 0)

    def test_a_lock_held_beyond_the_bound_exits_3_not_1(self):
        conn = self.hold_lock()
        try:
            d = self.start_daemon(self.config)
            # 30 s of waiting (plus one last 5 s busy timeout), then exit 3.
            rc = d.proc.wait(timeout=90)
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        self.assertEqual(rc, 3, d.text())
        self.assertIn("database is locked", d.text())
        self.assertIn("still locked by another process", d.text())
        self.assertEqual(len(d.lines("metrics served")), 0)


if __name__ == "__main__":
    unittest.main()
