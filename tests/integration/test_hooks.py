# SPDX-License-Identifier: Apache-2.0
"""Hooks and durable state with the real daemon: hooks run once per
transition, survive restarts and crashes (issue: Hooks)."""
import os
import random
import signal
import sqlite3
import stat
import subprocess
import time
import unittest

from harness import DaemonTestCase, JOBWATCHD, TEST_KEY, daemon_env, wait_for

# A hook that records each run: "start"/"done" lines in a shared journal
# (appends of one short line are atomic), and its environment and stdin in
# files named after the event and attempt.
RECORDING_HOOK = """#!/bin/sh
dir="$1"
run="$JOBWATCH_EVENT_ID.$JOBWATCH_HOOK.$JOBWATCH_ATTEMPT"
echo "start $JOBWATCH_EVENT_ID $JOBWATCH_HOOK $JOBWATCH_ATTEMPT $$" >> "$dir/journal"
env > "$dir/env.$run"
cat > "$dir/stdin.$run"
printf '%s\\n' "$@" > "$dir/argv.$run"
if [ -n "$HOOK_SLEEP" ]; then sleep "$HOOK_SLEEP"; fi
if [ -f "$dir/sleep" ]; then sleep "$(cat "$dir/sleep")"; fi
echo "hook says hello for $JOBWATCH_JOB_ID"
echo "done $JOBWATCH_EVENT_ID $JOBWATCH_HOOK $JOBWATCH_ATTEMPT $$" >> "$dir/journal"
"""


class HookTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(self.hookdir)
        self.hook = self.write("hook.sh", RECORDING_HOOK)
        os.chmod(self.hook, 0o755)

    def hooks_yaml(self, on="[completed, failed]", max_concurrent=4, timeout="30s", retries=2,
                   extra_hooks=""):
        return f"""\
hooks:
  max_concurrent: {max_concurrent}
  definitions:
    - name: record
      on: {on}
      command: ["{self.hook}", "{self.hookdir}", "second arg"]
      timeout: {timeout}
      retries: {retries}
{extra_hooks}"""

    def journal(self, kind=None):
        path = os.path.join(self.hookdir, "journal")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            rows = [line.split() for line in f if line.strip()]
        return [r for r in rows if kind is None or r[0] == kind]

    def done_count(self):
        return len(self.journal("done"))

    def ledger(self):
        db = sqlite3.connect(os.path.join(self.dir, "state.db"), timeout=10)
        try:
            return db.execute("SELECT job_id, status, hook, state, attempts FROM hook_runs "
                              "ORDER BY job_id").fetchall()
        finally:
            db.close()


class HookDeliveryTest(HookTestCase):
    def test_hook_gets_exactly_the_spec_environment_argv_and_body(self):
        fake = self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - id: job-env
                type: extraction
                pdf_name: report.pdf
                pdf_hash: "sha256:abc"
                created_at: "2024-01-15T10:30:00.000Z"
                timeline:
                  - {{at: 0s, status: PROCESSING}}
                  - {{at: 400ms, status: Completed}}
            """)
        config = self.write_config(["{id: job-env, labels: {customer: acme, batch_no: '7'}}"],
                                   extra=self.hooks_yaml())
        env = daemon_env(UNRELATED_SECRET="do-not-leak", NOTIFY_SOCKET="/nonexistent")
        d = self.start_daemon(config, env=env)
        wait_for(lambda: self.done_count() == 1, what="the hook to run")
        self.assertEqual(d.stop(), 0)

        run = "job-env:completed.record.1"
        with open(os.path.join(self.hookdir, "env." + run)) as f:
            hook_env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        # `env` from /bin/sh adds PWD, SHLVL and _ itself; they are not ours.
        for shell_own in ("PWD", "SHLVL", "_", "OLDPWD"):
            hook_env.pop(shell_own, None)
        expected = {
            "PATH": env["PATH"], "LANG": "C.UTF-8",
            "JOBWATCH_EVENT_ID": "job-env:completed", "JOBWATCH_HOOK": "record",
            "JOBWATCH_JOB_ID": "job-env", "JOBWATCH_STATUS": "completed",
            "JOBWATCH_PREVIOUS_STATUS": "processing", "JOBWATCH_STATUS_RAW": "Completed",
            "JOBWATCH_JOB_TYPE": "extraction", "JOBWATCH_PDF_NAME": "report.pdf",
            "JOBWATCH_PDF_HASH": "sha256:abc", "JOBWATCH_ERROR": "",
            "JOBWATCH_CREATED_AT": "2024-01-15T10:30:00.000Z",
            "JOBWATCH_ATTEMPT": "1", "JOBWATCH_ACCOUNT": "default",
            "JOBWATCH_LABEL_CUSTOMER": "acme", "JOBWATCH_LABEL_BATCH_NO": "7",
        }
        updated_at = hook_env.pop("JOBWATCH_UPDATED_AT")
        self.assertRegex(updated_at, r"^\d{4}-\d\d-\d\dT")
        self.assertEqual(hook_env, expected)
        with open(os.path.join(self.hookdir, "argv." + run)) as f:
            self.assertEqual(f.read(), f"{self.hookdir}\nsecond arg\n")
        with open(os.path.join(self.hookdir, "stdin." + run)) as f:
            body = f.read()
        self.assertIn('"status": "Completed"', body.replace('":"', '": "'))
        self.assertIn('"id"', body)
        text = d.text()
        self.assertNotIn(TEST_KEY, text)
        self.assertIn("hook says hello for job-env", text)
        self.assertEqual(self.ledger(), [("job-env", "completed", "record", 2, 1)])

    def test_twenty_completions_never_more_than_two_hooks_at_once(self):
        jobs = [f"job-c{i:02d}" for i in range(20)]
        self.start_fake("jobs:\n" + "".join(
            f"  - {{id: {j}, timeline: [{{at: 0s, status: PROCESSING}}, "
            f"{{at: 300ms, status: COMPLETED}}]}}\n" for j in jobs))
        with open(os.path.join(self.hookdir, "sleep"), "w") as f:
            f.write("0.2")
        config = self.write_config(jobs, extra=self.hooks_yaml(max_concurrent=2))
        d = self.start_daemon(config)
        wait_for(lambda: self.done_count() == 20, timeout=60, what="20 hooks")
        self.assertEqual(d.stop(), 0)
        alive = peak = 0
        for row in self.journal():  # journal order is the order of events
            alive += 1 if row[0] == "start" else -1
            peak = max(peak, alive)
        self.assertEqual(peak, 2, "hooks must overlap up to, and never beyond, max_concurrent")
        self.assertEqual(sorted(r[1] for r in self.journal("done")),
                         sorted(f"{j}:completed" for j in jobs))

    def test_restart_runs_no_hook_again_and_polls_no_terminal_job(self):
        fake = self.start_fake("""
            jobs:
              - {id: job-r1, status: COMPLETED}
              - {id: job-r2, status: FAILED, error: boom}
              - {id: job-r3, status: PROCESSING}
            """)
        config = self.write_config(["job-r1", "job-r2", "job-r3"], extra=self.hooks_yaml())
        d = self.start_daemon(config)
        wait_for(lambda: self.done_count() == 2, what="two hooks")
        # job-r3's first poll may come after the other two hooks (spread):
        # it must have been seen, so its status is in the state file.
        wait_for(lambda: any("job-r3" in line for line in d.lines("job seen")),
                 what="the unfinished job to be seen")
        self.assertEqual(d.stop(), 0)
        before = {j: fake.requests_for(j)["count"] for j in ("job-r1", "job-r2", "job-r3")}

        d2 = self.start_daemon(config, name="restarted")
        wait_for(lambda: fake.requests_for("job-r3")["count"] >= before["job-r3"] + 3,
                 what="the unfinished job to be polled after restart")
        self.assertEqual(d2.stop(), 0)
        self.assertEqual(fake.requests_for("job-r1")["count"], before["job-r1"])
        self.assertEqual(fake.requests_for("job-r2")["count"], before["job-r2"])
        self.assertEqual(self.done_count(), 2)
        self.assertIn("state loaded", d2.text())
        self.assertEqual(d2.lines("job seen") + d2.lines("status change"), [])

    def test_sigkill_during_a_hook_reruns_it_with_attempt_two(self):
        self.start_fake("""
            jobs:
              - {id: job-k, status: COMPLETED}
            """)
        with open(os.path.join(self.hookdir, "sleep"), "w") as f:
            f.write("30")
        config = self.write_config(["job-k"], extra=self.hooks_yaml())
        d = self.start_daemon(config)
        wait_for(lambda: len(self.journal("start")) == 1, what="the hook to start")
        d.stop(signal.SIGKILL)
        # The orphaned first run is still sleeping; end it so only the re-run can finish.
        first_pid = int(self.journal("start")[0][4])
        os.kill(first_pid, signal.SIGKILL)
        os.remove(os.path.join(self.hookdir, "sleep"))

        d2 = self.start_daemon(config, name="after-crash")
        wait_for(lambda: self.done_count() == 1, what="the re-run")
        self.assertEqual(self.journal("done")[0][3], "2", "JOBWATCH_ATTEMPT says it is a repeat")
        self.assertIn("running them again", d2.text())
        # Nothing left in the ledger to run: no further start can come.
        wait_for(lambda: d2.metric("jobwatch_hooks_pending") == 0, what="an empty hook queue")
        self.assertEqual(d2.stop(), 0)
        self.assertEqual(len(self.journal("start")), 2)
        self.assertEqual(self.ledger(), [("job-k", "completed", "record", 2, 2)])


class ForgetTest(HookTestCase):
    def test_finished_jobs_are_forgotten_after_forget_after(self):
        fake = self.start_fake("""
            jobs:
              - {id: job-old, status: COMPLETED}
              - {id: job-running, status: PROCESSING}
            """)
        config = self.write_config(["job-old", "job-running"], extra=self.hooks_yaml())
        with open(config) as f:
            text = f.read().replace("state:\n  path: state.db\n",
                                    "state:\n  path: state.db\n  forget_after: 1s\n")
        with open(config, "w") as f:
            f.write(text)
        d = self.start_daemon(config)
        d.wait_log("forgot finished jobs", timeout=15)

        def jobs_in_db():
            db = sqlite3.connect(os.path.join(self.dir, "state.db"), timeout=10)
            try:
                return [r[0] for r in db.execute("SELECT id FROM jobs ORDER BY id")]
            finally:
                db.close()
        wait_for(lambda: jobs_in_db() == ["job-running"], what="job-old to be forgotten")
        self.assertEqual(self.done_count(), 1, "its hook ran before it was forgotten")
        self.assertEqual(d.stop(), 0)
        # Still in the watch file: a restart must not watch it (or hook it) again.
        polls = fake.requests_for("job-old")["count"]
        running_polls = fake.requests_for("job-running")["count"]
        d2 = self.start_daemon(config, name="restarted")
        wait_for(lambda: fake.requests_for("job-running")["count"] >= running_polls + 5,
                 what="polling after the restart")
        self.assertEqual(d2.stop(), 0)
        self.assertEqual(fake.requests_for("job-old")["count"], polls)
        self.assertEqual(self.done_count(), 1)


class StateFileTest(HookTestCase):
    def test_corrupt_state_file_is_bad_input_naming_the_file(self):
        self.start_fake("jobs: [{id: a, status: queued}]")
        config = self.write_config(["a"])
        state = os.path.join(self.dir, "state.db")
        with open(state, "wb") as f:
            f.write(b"this is not a database" * 100)
        r = subprocess.run([JOBWATCHD, "--config", config], capture_output=True, text=True,
                           timeout=30, env=daemon_env())
        self.assertEqual(r.returncode, 1)
        self.assertIn(state, r.stderr)
        with open(state, "rb") as f:
            self.assertEqual(f.read(), b"this is not a database" * 100, "never reset silently")


    def test_a_second_daemon_on_the_same_state_is_refused(self):
        self.start_fake("jobs: [{id: a, status: queued}]")
        config = self.write_config(["a"])
        d = self.start_daemon(config)
        d.wait_log("jobwatchd started")
        r = subprocess.run([JOBWATCHD, "--once", "--config", config], capture_output=True,
                           text=True, timeout=30, env=daemon_env())
        # A runtime condition (the other process may be gone by the next
        # start), so exit 3 and systemd retries; not 1, which it never does.
        self.assertEqual(r.returncode, 3)
        self.assertIn("another jobwatchd process is using the state database", r.stderr)
        self.assertTrue(d.alive())
        self.assertEqual(d.stop(), 0)


class CrashConsistencyTest(HookTestCase):
    def test_random_kills_never_lose_or_duplicate_a_hook(self):
        rng = random.Random(int(os.environ.get("JOBWATCH_SEED", "20261123")))
        jobs = [f"job-x{i:03d}" for i in range(200)]
        lines = ["timeline_start: server_start", "jobs:"]
        for j in jobs:
            end = rng.choice(["COMPLETED", "FAILED"])
            at = rng.randint(500, 9000)
            lines.append(f"  - {{id: {j}, error: e, timeline: [{{at: 0s, status: PROCESSING}}, "
                         f"{{at: {at}ms, status: {end}}}]}}")
        fake = self.start_fake("\n".join(lines) + "\n")
        config = self.write_config(
            jobs, extra=self.hooks_yaml(max_concurrent=8) + """\
    - name: audit
      on: ["*"]
      shell: 'echo "done $JOBWATCH_EVENT_ID audit $JOBWATCH_ATTEMPT" >> "$0"/journal-audit'
""".replace('"$0"', self.hookdir))
        env = daemon_env(HOOK_SLEEP="0.1")
        kills = 0
        deadline = time.monotonic() + 14
        d = self.start_daemon(config, env=env, name="run0")
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.8, 2.5))
            d.stop(signal.SIGKILL)
            kills += 1
            d = self.start_daemon(config, env=env, name=f"run{kills}")

        def settled():
            statuses = fake.admin("GET", "/_admin/jobs")["jobs"]
            if any(s not in ("COMPLETED", "FAILED") for s in statuses.values()):
                return False
            rows = self.ledger()
            return (len([r for r in rows if r[2] == "record"]) == len(jobs)
                    and all(r[3] == 2 for r in rows))
        d.wait_log("jobwatchd started", timeout=60)  # a SIGTERM before start-up ends kills it
        wait_for(settled, timeout=120, interval=0.5, what="every hook to succeed")
        self.assertEqual(d.stop(), 0)

        done = {}
        for row in self.journal("done"):
            done.setdefault(row[1], []).append(int(row[3]))
        expected = {}
        for j, status in fake.admin("GET", "/_admin/jobs")["jobs"].items():
            expected[f"{j}:{status.lower()}"] = True
        self.assertEqual(set(done), set(expected), "every terminal event ran its hook")
        once = sum(1 for a in done.values() if len(a) == 1)
        twice = [e for e, a in done.items() if len(a) == 2]
        more = [e for e, a in done.items() if len(a) > 2]
        print(f"\ncrash-consistency: {len(jobs)} jobs, {kills} SIGKILLs, "
              f"{once} hooks ran once, {len(twice)} twice (in flight at a kill), "
              f"{len(more)} more than twice")
        self.assertEqual(more, [])
        for e in twice:
            self.assertGreater(max(done[e]), 1, f"{e}: a repeat must say JOBWATCH_ATTEMPT>1")
        self.assertLessEqual(len(twice), kills * 8, "only runs in flight at a kill repeat")
        with open(os.path.join(self.hookdir, "journal-audit")) as f:
            audited = {line.split()[1] for line in f}
        self.assertLessEqual(set(expected), audited, '"*" hooks see every terminal change too')
        # Every ledger row ended in success, exactly once per (job, status, hook).
        rows = self.ledger()
        self.assertEqual(len(rows), len(set((r[0], r[1], r[2]) for r in rows)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
