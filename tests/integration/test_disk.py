# SPDX-License-Identifier: Apache-2.0
"""Disk faults under a running daemon: the state directory fills up, or goes
read-only (issue: Reliability).

Promise (SPEC "Hooks", "State"): a transition's hook runs only once the
transition and its ledger entry are committed. While the state cannot be
written the daemon keeps running, says so in the log naming the file, and
runs no hook; once writes succeed again each hook runs exactly once.

The same for results (SPEC "Results", issue: Results): a result that does
not fit in results.dir is logged, counted as write_error and retried, with
no partial file left and its with_result hook waiting, bounded by
results.give_up_after.

Needs root: a 2 MiB tmpfs (full disk) and an ext4 image on a loop device
(read-only). A running file system cannot be remounted read-only while a
file on it is open for writing (`mount -o remount,ro` fails with EBUSY: the
daemon holds state.db open), so the read-only case uses what really makes a
file system read-only under a running service: ext4 aborting
(`mount -o remount,abort`, the same path as errors=remount-ro). An aborted
ext4 stays read-only until it is unmounted, so recovery there is a restart
on the remounted file system. Each test skips, saying why, where it cannot
mount.
"""
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

from harness import DaemonTestCase, wait_for
from test_results import RESULT_HOOK, generated_result

HOOK = """#!/bin/sh
echo "$JOBWATCH_EVENT_ID $JOBWATCH_ATTEMPT" >> "$1/journal"
"""

JOBS = [f"disk-{i}" for i in range(5)]


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60)


class DiskFaultTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.mounts = []  # unmounted in tearDown, innermost last-in first-out
        self.hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(self.hookdir)
        self.hook = self.write("hook.sh", HOOK)
        os.chmod(self.hook, 0o755)

    def tearDown(self):
        # Daemons first (they hold files on the mounts), then the mounts,
        # then the temp dir: removing it with a mount inside would fail.
        for d in self.daemons:
            if d.alive():
                d.stop(signal.SIGKILL)
        problems = []
        for mnt in reversed(self.mounts):
            r = run("umount", mnt)
            if r.returncode != 0:
                r = run("umount", "-l", mnt)
                problems.append(f"umount {mnt}: {r.stderr.strip()}")
        super().tearDown()
        self.assertEqual(problems, [])

    def mount(self, mnt, *argv, skip_reason):
        os.makedirs(mnt, exist_ok=True)
        if os.geteuid() != 0:
            self.skipTest(f"{skip_reason}: needs root (mount)")
        r = run("mount", *argv, mnt)
        if r.returncode != 0:
            self.skipTest(f"{skip_reason}: mount {' '.join(argv)} not permitted here: "
                          f"{r.stderr.strip()}")
        self.mounts.append(mnt)

    def config(self, state_dir):
        cfg = self.write_config(JOBS, poll={"interval": "200ms", "jitter": "0",
                                            "backoff_max": "1s"},
                                extra=f"""\
                                    hooks:
                                      definitions:
                                        - name: record
                                          on: [completed]
                                          command: ["{self.hook}", "{self.hookdir}"]
                                          timeout: 10s
                                    """)
        with open(cfg) as f:
            text = f.read().replace("state:\n  path: state.db\n",
                                    f"state:\n  path: {state_dir}/state.db\n")
        with open(cfg, "w") as f:
            f.write(text)
        return cfg

    def journal(self):
        path = os.path.join(self.hookdir, "journal")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split()[0] for line in f if line.strip()]

    def committed(self, db_path):
        """Job statuses as committed in the state database (read-only look)."""
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
        try:
            return dict(db.execute("SELECT id, status FROM jobs").fetchall())
        finally:
            db.close()

    def start_and_settle(self, cfg, db_path, name="jobwatchd"):
        d = self.start_daemon(cfg, name=name)
        d.wait_log("jobwatchd started")
        wait_for(lambda: self.committed(db_path) == {j: "processing" for j in JOBS},
                 timeout=15, what="every job committed as processing")
        return d

    def complete_all(self, d):
        for j in JOBS:
            self.fake.admin("POST", f"/_admin/jobs/{j}?status=COMPLETED")
        d.wait_log("to=completed", count=len(JOBS))  # in memory: not yet committed

    def assert_no_hook_while_failing(self, d, db_path, window=3.0):
        d.wait_log("state write failed", timeout=15)
        time.sleep(window)  # measured window: writes keep failing and are retried
        self.assertTrue(d.alive(), "the daemon keeps running")
        self.assertEqual(self.journal(), [], "no hook runs before its ledger entry is committed")
        self.assertEqual(d.metric('jobwatch_hook_runs_total{hook="record",result="success"}'), 0)
        wait_for(lambda: (d.metric("jobwatch_state_write_failures_total") or 0) >= 1,
                 what="the failed commits counted")
        failed = d.lines("state write failed")[0]
        print("\n  logged: " + failed, file=sys.stderr)
        self.assertIn(db_path, failed, "the error names the state file")
        return failed


class DiskFullTest(DiskFaultTestCase):
    def test_full_disk_delays_hooks_until_space_returns(self):
        mnt = os.path.join(self.dir, "state")
        self.mount(mnt, "-t", "tmpfs", "-o", "size=2m", "tmpfs",
                   skip_reason="full-disk test on a 2 MiB tmpfs")
        db_path = os.path.join(mnt, "state.db")
        self.start_fake("jobs:\n" + "".join(f"  - {{id: {j}, status: PROCESSING}}\n"
                                            for j in JOBS))
        d = self.start_and_settle(self.config(mnt), db_path)

        # Fill the file system to the last page.
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as e:
            self.assertEqual(e.errno, errno.ENOSPC)
        finally:
            os.close(fd)
        self.assertLess(shutil.disk_usage(mnt).free, 4096)

        self.complete_all(d)
        failed = self.assert_no_hook_while_failing(d, db_path)
        self.assertRegex(failed, r"full|space", "the error says why")
        self.assertEqual(self.committed(db_path), {j: "processing" for j in JOBS})

        os.remove(filler)  # space returns: the writer's retry commits, hooks run
        d.wait_log("state writes are committed again", timeout=15)
        wait_for(lambda: len(self.journal()) == len(JOBS), timeout=15, what="every hook")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sorted(self.journal()), sorted(f"{j}:completed" for j in JOBS),
                         "each hook ran exactly once")
        self.assertEqual(self.committed(db_path), {j: "completed" for j in JOBS})


class ReadOnlyTest(DiskFaultTestCase):
    def test_read_only_file_system_runs_no_hook_and_recovers_after_restart(self):
        if shutil.which("mkfs.ext4") is None:
            self.skipTest("read-only test: mkfs.ext4 (e2fsprogs) is not installed")
        image = os.path.join(self.dir, "state.img")
        with open(image, "wb") as f:
            f.truncate(16 << 20)
        r = run("mkfs.ext4", "-q", "-F", image)
        self.assertEqual(r.returncode, 0, r.stderr)
        mnt = os.path.join(self.dir, "state")
        self.mount(mnt, "-o", "loop", image,
                   skip_reason="read-only test on an ext4 image (loop device)")
        db_path = os.path.join(mnt, "state.db")
        self.start_fake("jobs:\n" + "".join(f"  - {{id: {j}, status: PROCESSING}}\n"
                                            for j in JOBS))
        cfg = self.config(mnt)
        d = self.start_and_settle(cfg, db_path)

        r = run("mount", "-o", "remount,abort", mnt)
        if r.returncode != 0:
            self.skipTest(f"read-only test: ext4 abort not permitted: {r.stderr.strip()}")
        self.complete_all(d)
        self.assert_no_hook_while_failing(d, db_path)

        # A stop cannot commit either: it says so, naming the file, and exits.
        t0 = time.monotonic()
        rc = d.stop(timeout=40)
        self.assertLess(time.monotonic() - t0, 35)
        self.assertEqual(rc, 0)
        self.assertTrue(any(db_path in line
                            for line in d.lines("state writes could not be committed")))
        self.assertEqual(self.journal(), [])

        # The operator fixes the file system (unmount, mount again) and restarts.
        r = run("umount", mnt)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.mounts.remove(mnt)
        self.mount(mnt, "-o", "loop", image, skip_reason="remounting the ext4 image")
        self.assertEqual(self.committed(db_path), {j: "processing" for j in JOBS},
                         "nothing half-written")
        d2 = self.start_daemon(cfg, name="after-fix")
        wait_for(lambda: len(self.journal()) == len(JOBS), timeout=20, what="every hook")
        wait_for(lambda: self.committed(db_path) == {j: "completed" for j in JOBS},
                 what="completed committed")
        self.assertEqual(d2.stop(), 0)
        self.assertEqual(sorted(self.journal()), sorted(f"{j}:completed" for j in JOBS),
                         "each hook ran exactly once")


class ResultDiskFullTest(DiskFaultTestCase):
    """results.dir on a 2 MiB tmpfs; the result is 3 MiB: it cannot fit."""

    SIZE = 3 * 1024 * 1024

    def setUp(self):
        super().setUp()
        self.result_hook = self.write("result-hook.sh", RESULT_HOOK)
        os.chmod(self.result_hook, 0o755)
        self.results = os.path.join(self.dir, "results")

    def start(self, job_id, give_up_after="1h"):
        self.mount(self.results, "-t", "tmpfs", "-o", "size=2m,mode=0750", "tmpfs",
                   skip_reason="result disk-full test on a 2 MiB tmpfs")
        self.assertLess(shutil.disk_usage(self.results).free, self.SIZE)
        fake = self.start_fake(f"""
            jobs:
              - {{id: {job_id}, status: COMPLETED, result_bytes: {self.SIZE}}}
            """)
        cfg = self.write_config([job_id], poll={"interval": "200ms", "jitter": "0",
                                                "backoff_max": "1s"},
                                extra=f"""\
                                    hooks:
                                      definitions:
                                        - name: fetch
                                          on: [completed]
                                          with_result: true
                                          command: ["{self.result_hook}", "{self.hookdir}"]
                                    results:
                                      dir: {self.results}
                                      give_up_after: {give_up_after}
                                    """)
        return fake, self.start_daemon(cfg)

    def runs(self):
        path = os.path.join(self.hookdir, "journal")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split()[1:] for line in f if line.strip()]

    def env_of(self, job_id):
        with open(os.path.join(self.hookdir, f"env.{job_id}:completed.fetch.1")) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)

    def write_errors(self, d):
        return d.metric('jobwatch_result_fetches_total{account="default",result="write_error"}') or 0

    def ledger(self):
        db = sqlite3.connect(f"file:{os.path.join(self.dir, 'state.db')}?mode=ro", uri=True,
                             timeout=10)
        try:
            return (db.execute("SELECT job_id, hook, state, attempts FROM hook_runs").fetchall(),
                    db.execute("SELECT job_id, state FROM results").fetchall())
        finally:
            db.close()

    def assert_failing_and_waiting(self, d, job_id):
        """Writes fail, are counted and retried; nothing is left; the hook waits."""
        wait_for(lambda: self.write_errors(d) >= 2, timeout=20,
                 what="two failed writes counted (the first, and a retry)")
        logged = d.lines("result could not be written")
        self.assertTrue(logged, "the write error is logged")
        print("\n  logged: " + logged[0], file=sys.stderr)
        self.assertIn("No space left on device", logged[0])
        self.assertIn(self.results, logged[0], "the log names the file")
        self.assertIn("write_error", logged[0])
        # Each attempt writes a new temporary file: a leak would accumulate
        # (and hold the space); removed, the directory is empty between tries.
        wait_for(lambda: os.listdir(self.results) == [], what="the temporary file removed")
        self.assertLess(shutil.disk_usage(self.results).used, 64 * 1024)
        self.assertFalse(os.path.exists(os.path.join(self.results, f"{job_id}.json")),
                         "no partial file under the final name")
        self.assertEqual(self.runs(), [], "the with_result hook waits")
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="ok"}'), 0)
        self.assertEqual(d.metric('jobwatch_jobs{status="completed"}'), 1, "status unchanged")

    def test_disk_full_result_is_retried_and_the_hook_runs_once_space_returns(self):
        fake, d = self.start("job-full")
        self.assert_failing_and_waiting(d, "job-full")

        r = run("mount", "-o", "remount,size=8m", self.results)  # space returns
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: self.runs(), timeout=20, what="the hook once the result fits")
        final = os.path.join(self.results, "job-full.json")
        expected = generated_result("job-full", self.SIZE)
        with open(final, "rb") as f:
            self.assertEqual(f.read(), expected)
        with open(os.path.join(self.hookdir, "result.job-full:completed.fetch.1"), "rb") as f:
            self.assertEqual(f.read(), expected, "the hook saw the full file")
        env = self.env_of("job-full")
        self.assertEqual(env["JOBWATCH_RESULT_FILE"], final)
        self.assertNotIn("JOBWATCH_RESULT_ERROR", env)
        self.assertEqual(os.listdir(self.results), ["job-full.json"], "no temporary file left")
        errors = self.write_errors(d)
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="ok"}'), 1)
        self.assertEqual(fake.requests_for("job-full")["result_count"], errors + 1,
                         "one request per failed write, then one that succeeded")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.runs(), [["job-full:completed", "fetch", "1"]], "ran exactly once")
        self.assertEqual(self.ledger(), ([("job-full", "fetch", 2, 1)], [("job-full", 1)]))

    def test_disk_full_past_give_up_after_runs_the_hook_once_with_the_error(self):
        fake, d = self.start("job-nospace", give_up_after="4s")
        self.assert_failing_and_waiting(d, "job-nospace")
        wait_for(lambda: self.runs(), timeout=20, what="the hook after results.give_up_after")
        env = self.env_of("job-nospace")
        self.assertNotIn("JOBWATCH_RESULT_FILE", env)
        error = env["JOBWATCH_RESULT_ERROR"]
        print("\n  JOBWATCH_RESULT_ERROR=" + error, file=sys.stderr)
        self.assertIn("results.give_up_after", error)
        self.assertIn("No space left on device", error, "the error names the disk problem")
        errors = self.write_errors(d)
        self.assertGreaterEqual(errors, 2)
        self.assertEqual(fake.requests_for("job-nospace")["result_count"], errors)
        self.assertEqual(os.listdir(self.results), [], "no partial file, no temporary file")
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.runs(), [["job-nospace:completed", "fetch", "1"]],
                         "ran exactly once")
        self.assertEqual(self.ledger(), ([("job-nospace", "fetch", 2, 1)], [("job-nospace", 2)]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
