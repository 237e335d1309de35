# SPDX-License-Identifier: Apache-2.0
"""The sd_notify protocol as systemd sees it: the real daemon, the fake API,
and an AF_UNIX datagram socket in NOTIFY_SOCKET playing systemd.

READY=1 only once /metrics answers; WATCHDOG=1 about every WATCHDOG_USEC/2
from the scheduler thread, stopping while the scheduler is wedged (test seam
JOBWATCHD_TEST_WEDGE_FILE) and resuming after; STATUS= follows the jobs'
statuses, at most once a second; SIGHUP gives RELOADING=1 with
MONOTONIC_USEC= then READY=1; SIGTERM gives STOPPING=1. Hooks never see
NOTIFY_SOCKET or WATCHDOG_USEC.
"""
import os
import signal
import socket
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import DaemonTestCase, TEST_KEY, daemon_env, wait_for  # noqa: E402

WATCHDOG_USEC = 1_000_000  # pings expected every 0.5 s

ENV_DUMP_HOOK = """\
#!/bin/sh
env > "$1/env.$JOBWATCH_JOB_ID"
"""


class NotifySocket:
    """Plays systemd's end of NOTIFY_SOCKET: collects datagrams with the
    monotonic time they arrived."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.messages = []  # (time.monotonic(), {key: value})

    def close(self):
        self.sock.close()

    def _receive(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        message = (time.monotonic(), fields)
        self.messages.append(message)
        return message

    def last(self, key):
        """The latest value received for `key` ("" if none)."""
        for _, fields in reversed(self.messages):
            if key in fields:
                return fields[key]
        return ""

    def drain(self):
        """Takes whatever is queued now, without waiting."""
        while self._receive(0.001):
            pass

    def wait(self, predicate, timeout, what):
        """Receives until a message satisfies predicate(fields); returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout}s; got: "
                                     f"{[m[1] for m in self.messages[-10:]]}")
            message = self._receive(left)
            if message and predicate(message[1]):
                return message

    def collect(self, seconds):
        """Everything that arrives in the next `seconds`."""
        start = len(self.messages)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._receive(deadline - time.monotonic())
        return self.messages[start:]


def pings(messages):
    return [t for t, fields in messages if fields.get("WATCHDOG") == "1"]


class NotifyTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.notify = NotifySocket(os.path.join(self.dir, "notify.sock"))

    def tearDown(self):
        self.notify.close()
        super().tearDown()

    def test_notify_protocol(self):
        self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - id: job-ok
                type: extraction
                timeline:
                  - {{at: 0s, status: queued}}
                  - {{at: 1500ms, status: PROCESSING}}
                  - {{at: 3s, status: COMPLETED}}
              - id: job-bad
                timeline:
                  - {{at: 0s, status: PROCESSING}}
                  - {{at: 3500ms, status: FAILED}}
            """)
        hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(hookdir)
        hook = self.write("env-hook.sh", ENV_DUMP_HOOK)
        os.chmod(hook, 0o755)
        config = self.write_config(["job-ok", "job-bad"], extra=f"""
            hooks:
              definitions:
                - name: env-dump
                  on: [completed, failed]
                  command: ["{hook}", "{hookdir}"]
            """)
        wedge = os.path.join(self.dir, "wedge")
        d = self.start_daemon(config, env=daemon_env(
            NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(WATCHDOG_USEC),
            JOBWATCHD_TEST_WEDGE_FILE=wedge))

        # READY=1 only once serving: at that moment /metrics answers.
        self.notify.wait(lambda f: f.get("READY") == "1", 15, "READY=1")
        served = d.lines("metrics served")
        self.assertEqual(len(served), 1, "READY=1 came before the metrics endpoint was logged")
        url = served[0].split("url=", 1)[1].split()[0].strip('"')
        with urllib.request.urlopen(url, timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("jobwatch_jobs", r.read().decode())
        self.assertEqual(sum(1 for _, f in self.notify.messages if f.get("READY") == "1"), 1)

        # STATUS= follows the timeline until both jobs are terminal.
        final = self.notify.wait(
            lambda f: "1 completed" in f.get("STATUS", "") and "1 failed" in f.get("STATUS", ""),
            20, "STATUS= with 1 completed and 1 failed")
        statuses = [(t, f["STATUS"]) for t, f in self.notify.messages if "STATUS" in f]
        texts = [s for _, s in statuses]
        print("STATUS= lines:", texts, file=sys.stderr)
        self.assertTrue(any("processing" in s and "queued" in s for s in texts), texts)
        self.assertTrue(all(s.startswith("watching 2 jobs") for s in texts), texts)
        self.assertRegex(final[1]["STATUS"],
                         r"^watching 2 jobs: 1 completed, 1 failed; hooks pending \d+$")
        self.assertEqual(len(texts), len(set(texts)), f"STATUS= repeated unchanged: {texts}")
        for (t0, _), (t1, _) in zip(statuses, statuses[1:]):
            self.assertGreater(t1 - t0, 0.8, f"STATUS= more often than once a second: {statuses}")
        wait_for(lambda: len(os.listdir(hookdir)) == 2, timeout=15, what="both hooks")
        if not self.notify.last("STATUS").endswith("hooks pending 0"):
            self.notify.wait(lambda f: f.get("STATUS", "").endswith("hooks pending 0"), 5,
                             "STATUS= with no hooks pending")

        # WATCHDOG=1 about every 0.5 s.
        window = 3.0
        got = pings(self.notify.collect(window))
        self.assertGreaterEqual(len(got), 4, f"{len(got)} pings in {window}s")
        self.assertLessEqual(len(got), 8, f"{len(got)} pings in {window}s")
        gaps = [b - a for a, b in zip(got, got[1:])]
        self.assertLess(max(gaps), 0.9, f"ping gaps {gaps}")

        # A wedged scheduler stops the pings; they resume when it is free.
        open(wedge, "w").close()
        d.wait_log("scheduler wedged", timeout=5)
        self.notify.drain()  # pings sent before the wedge took hold
        quiet = pings(self.notify.collect(2.2))
        self.assertEqual(quiet, [], "WATCHDOG=1 while the scheduler was wedged")
        os.unlink(wedge)
        self.notify.wait(lambda f: f.get("WATCHDOG") == "1", 3, "WATCHDOG=1 after the wedge")
        self.assertTrue(d.alive())

        # SIGHUP: RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC), then READY=1.
        before = time.monotonic()
        d.proc.send_signal(signal.SIGHUP)
        reloading = self.notify.wait(lambda f: f.get("RELOADING") == "1", 10, "RELOADING=1")[1]
        after = time.monotonic()
        self.assertIn("MONOTONIC_USEC", reloading)
        usec = int(reloading["MONOTONIC_USEC"])
        self.assertTrue(before - 0.01 <= usec / 1e6 <= after + 0.01, (before, usec, after))
        self.notify.wait(lambda f: f.get("READY") == "1", 10, "READY=1 after the reload")
        d.wait_log("configuration reloaded")

        # Hooks got none of systemd's variables.
        for name in os.listdir(hookdir):
            with open(os.path.join(hookdir, name)) as f:
                hook_env = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
            for leaked in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                           "JOBWATCHD_TEST_WEDGE_FILE", "UNSILOED_API_KEY"):
                self.assertNotIn(leaked, hook_env, name)
            self.assertEqual(hook_env.get("JOBWATCH_HOOK"), "env-dump")

        # SIGTERM: STOPPING=1, then a clean exit.
        d.proc.send_signal(signal.SIGTERM)
        self.notify.wait(lambda f: f.get("STOPPING") == "1", 10, "STOPPING=1")
        self.assertEqual(d.stop(), 0)

    def test_without_notify_socket_nothing_is_sent(self):
        self.start_fake("""
            jobs:
              - {id: job-quiet, status: PROCESSING}
            """)
        # WATCHDOG_USEC alone (no NOTIFY_SOCKET) must not make it talk.
        d = self.start_daemon(self.write_config(["job-quiet"]),
                              env=daemon_env(WATCHDOG_USEC=str(WATCHDOG_USEC)))
        d.wait_log("to=processing")
        self.assertEqual(self.notify.collect(1.0), [])
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
