# SPDX-License-Identifier: Apache-2.0
"""Accounts with the real daemon (SPEC "Accounts"): two API keys with their
own budgets against a fake API that enforces a per-key limit per window
(100/min and 1,000/min scaled down to 5/s and 50/s), the second account on
two engine threads. The fake API never answers 429, each account spends
close to its own budget, an outage of one leaves the other's rate as it
was, and the account reaches the metrics, the hooks and the state file. A
job stays with the account it was first watched under; reload adds and
removes accounts."""
import json
import os
import signal
import sqlite3
import subprocess
import time
import unittest

from harness import JOBWATCHD, TEST_KEY, DaemonTestCase, daemon_env, wait_for

KEY_B = "sk-team-b-0123456789"

HOOK = """#!/bin/sh
echo "$JOBWATCH_JOB_ID $JOBWATCH_STATUS $JOBWATCH_ACCOUNT" >> "$1/journal"
"""


class AccountsTestCase(DaemonTestCase):
    def write(self, name, text):
        """Written whole under a temporary name, then renamed: the daemon
        watches these files and must never read one half-written."""
        path = super().write(name + ".tmp", text)
        os.rename(path, path[:-len(".tmp")])
        return path[:-len(".tmp")]

    def fake_with_limits(self, a_jobs, b_jobs, a_limit=5, b_limit=50):
        jobs = "".join(f"  - {{id: {j}, status: PROCESSING, type: extraction}}\n"
                       for j in a_jobs + b_jobs)
        return self.start_fake(f"""\
api_key: {TEST_KEY}
api_keys: [{KEY_B}]
rate_window: 1s
rate_limits:
  - {{key: {TEST_KEY}, per_window: {a_limit}}}
  - {{key: {KEY_B}, per_window: {b_limit}}}
jobs:
""" + jobs)

    def key_counts(self):
        keys = self.fake.admin("GET", "/_admin/requests")["keys"]
        return {k: (v["count"], v["rejected_429"]) for k, v in keys.items()}

    def accounts_config(self, a_jobs, b_jobs, accounts=None, name="jobwatchd.yaml",
                        b_in_file=True, hooks=""):
        accounts = accounts if accounts is not None else f"""\
accounts:
  - name: team-b
    api_key_env: TEAM_B_KEY
    rate_limit: 50/s
    threads: 2
"""
        control = f"control: {{socket: {os.path.join(self.dir, 'control.sock')}}}\n"
        # jobs.yaml is written once, whole: the daemon re-reads it on change.
        entries = list(a_jobs)
        if b_in_file:
            entries += [f"{{id: {j}, account: team-b}}" for j in b_jobs]
        return self.write_config(entries, api={"rate_limit": "5/s"},
                                 poll={"interval": "200ms", "strategy": "round_robin"},
                                 extra=accounts + hooks + control, name=name)

    def rates_over(self, seconds):
        """Requests per second the fake API answered for each key over the
        next `seconds` (a fixed measuring window; the budget lets a window's
        worth go at once, so measure over several windows)."""
        c0, t0 = self.key_counts(), time.monotonic()
        deadline = t0 + seconds
        while time.monotonic() < deadline:
            time.sleep(0.1)
        c1, t1 = self.key_counts(), time.monotonic()
        return {k: (c1[k][0] - c0[k][0]) / (t1 - t0) for k in c1}


class TwoAccountsTest(AccountsTestCase):
    def test_each_account_keeps_its_own_budget_and_an_outage_of_one_never_slows_the_other(self):
        a_jobs = [f"acc-a-{i}" for i in range(40)]
        b_jobs = [f"acc-b-{i}" for i in range(60)]
        self.fake_with_limits(a_jobs, b_jobs)
        hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(hookdir)
        hook = self.write("hook.sh", HOOK)
        os.chmod(hook, 0o755)
        config = self.accounts_config(a_jobs, b_jobs, hooks=f"""\
hooks:
  definitions:
    - name: done
      on: [completed]
      command: ["{hook}", "{hookdir}"]
""")
        d = self.start_daemon(config, env=daemon_env(TEAM_B_KEY=KEY_B))
        d.wait_log("metrics served")
        # Every job polled once under its own key (40 jobs at 5/s: ~8 s).
        wait_for(lambda: self.key_counts()[TEST_KEY][0] >= 40 and
                 self.key_counts()[KEY_B][0] >= 60, timeout=30, what="every job polled")
        rates = self.rates_over(8)
        rate_a, rate_b = rates[TEST_KEY], rates[KEY_B]
        # Close to each budget (a request counts until a window after its
        # answer), never beyond it.
        self.assertGreater(rate_a, 0.8 * 5, "default spends its budget")
        self.assertLessEqual(rate_a, 5.5)
        self.assertGreater(rate_b, 0.8 * 50, "team-b spends its budget")
        self.assertLessEqual(rate_b, 55)

        # An outage of the default account (503 for its key only).
        self.fake.admin("POST", f"/_admin/faults?kind=http&code=503&key={TEST_KEY}")
        wait_for(lambda: d.metric('jobwatch_api_up{account="default"}') == 0,
                 what="the default account seen down")
        rate_b_outage = self.rates_over(8)[KEY_B]
        self.assertGreater(rate_b_outage, 0.85 * rate_b, "team-b not slowed by default's outage")
        self.assertEqual(d.metric('jobwatch_api_up{account="team-b"}'), 1)
        self.fake.admin("DELETE", "/_admin/faults")

        # The account reaches the hooks and the metrics.
        self.fake.admin("POST", f"/_admin/jobs/{b_jobs[0]}?status=COMPLETED")
        journal = os.path.join(hookdir, "journal")
        wait_for(lambda: os.path.exists(journal), timeout=15, what="the hook of a team-b job")
        self.assertEqual(d.metric('jobwatch_requests_budget_per_second{account="team-b"}'), 50)
        self.assertEqual(d.metric('jobwatch_requests_budget_per_second{account="default"}'), 5)
        self.assertGreater(d.metric('jobwatch_requests_total{account="team-b",kind="status"}'),
                           d.metric('jobwatch_requests_total{account="default",kind="status"}'))
        # The status command names both accounts.
        status = subprocess.run([JOBWATCHD, "status", "--json", "--config", config],
                                capture_output=True, text=True, timeout=30)
        accounts = {a["name"] for a in json.loads(status.stdout)["accounts"]}
        self.assertEqual(accounts, {"default", "team-b"})
        self.assertEqual(d.stop(), 0)
        with open(journal) as f:
            self.assertEqual(f.read(), f"{b_jobs[0]} completed team-b\n")
        # Never a 429: the budgets keep to the vendor's windows.
        for key, (count, rejected) in self.key_counts().items():
            self.assertEqual(rejected, 0, f"429s for {key}")
        db = sqlite3.connect(os.path.join(self.dir, "state.db"))
        try:
            rows = dict(db.execute("SELECT id, account FROM jobs").fetchall())
        finally:
            db.close()
        self.assertEqual({rows[j] for j in a_jobs}, {"default"})
        self.assertEqual({rows[j] for j in b_jobs}, {"team-b"})


class BindingAndReloadTest(AccountsTestCase):
    def test_a_job_keeps_its_account_and_reload_adds_and_removes_accounts(self):
        a_jobs = ["bind-a-0", "bind-a-1"]
        b_jobs = ["bind-b-0", "bind-b-1"]
        self.fake_with_limits(a_jobs, b_jobs, a_limit=50, b_limit=50)
        # Start without team-b: its entries are refused, naming the place.
        config = self.accounts_config(a_jobs, b_jobs, accounts="")
        d = self.start_daemon(config, env=daemon_env(TEAM_B_KEY=KEY_B))
        refused = d.wait_log("account team-b is not configured", count=2)
        self.assertIn("jobs.yaml:4", "\n".join(refused))
        wait_for(lambda: self.key_counts()[TEST_KEY][0] >= 4, what="default's jobs polled")
        self.assertEqual(self.key_counts()[KEY_B][0], 0)

        # Reload adds team-b: its jobs are polled with its key.
        self.accounts_config(a_jobs, b_jobs)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("account added")
        wait_for(lambda: self.key_counts()[KEY_B][0] >= 4, what="team-b's jobs polled")
        self.assertEqual(d.lines("account added")[0].count("team-b"), 1)

        # Moving a bound job to another account is refused; it stays.
        self.write("jobs.yaml", "jobs:\n  - bind-a-0\n  - bind-a-1\n  - bind-b-0\n"
                                "  - {id: bind-b-1, account: team-b}\n")
        d.proc.send_signal(signal.SIGHUP)
        moved = d.wait_log("belongs to account team-b")
        self.assertIn("jobs.yaml:4", moved[0])
        before = self.fake.requests_for("bind-b-0")["count"]
        b_before = self.key_counts()[KEY_B][0]
        wait_for(lambda: self.fake.requests_for("bind-b-0")["count"] >= before + 3,
                 what="bind-b-0 still polled")
        self.assertGreaterEqual(self.key_counts()[KEY_B][0], b_before + 3,
                                "bind-b-0 polled with team-b's key")

        # Reload removes team-b: its jobs stop being polled, and say why.
        self.accounts_config(a_jobs, b_jobs, accounts="")
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("account removed from the configuration")
        self.assertIn("jobs=2", d.lines("account removed")[0])
        b_stopped = self.key_counts()[KEY_B][0]
        a_now = self.key_counts()[TEST_KEY][0]
        wait_for(lambda: self.key_counts()[TEST_KEY][0] >= a_now + 10, what="default polling on")
        self.assertEqual(self.key_counts()[KEY_B][0], b_stopped)
        self.assertEqual(d.stop(), 0)

        # The binding survives a restart: team-b's jobs are kept aside, not
        # moved to default.
        d2 = self.start_daemon(config, env=daemon_env(TEAM_B_KEY=KEY_B), name="jobwatchd2")
        aside = d2.wait_log("jobs of an account that is not configured are not polled")
        self.assertIn("team-b", aside[0])
        a_now = self.key_counts()[TEST_KEY][0]
        wait_for(lambda: self.key_counts()[TEST_KEY][0] >= a_now + 10, what="default polling")
        self.assertEqual(self.key_counts()[KEY_B][0], b_stopped)
        self.assertEqual(d2.stop(), 0)

    def test_add_account_drops_a_job_for_that_account(self):
        self.fake_with_limits(["add-a"], ["add-b"], a_limit=50, b_limit=50)
        config = self.accounts_config(["add-a"], [], accounts="""\
accounts:
  - name: team-b
    api_key_env: TEAM_B_KEY
    rate_limit: 50/s
""", b_in_file=False)
        with open(config) as f:
            text = f.read().replace("watch:\n  file: jobs.yaml\n",
                                    "watch:\n  file: jobs.yaml\n  drop_dir: drop\n")
        with open(config, "w") as f:
            f.write(text)
        os.mkdir(os.path.join(self.dir, "drop"))
        d = self.start_daemon(config, env=daemon_env(TEAM_B_KEY=KEY_B))
        d.wait_log("metrics served")
        bad = subprocess.run([JOBWATCHD, "add", "--config", config, "--account", "nope", "add-b"],
                             capture_output=True, text=True, timeout=30, cwd=self.dir)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("nope", bad.stderr)
        ok = subprocess.run([JOBWATCHD, "add", "--config", config, "--account", "team-b", "add-b"],
                            capture_output=True, text=True, timeout=30, cwd=self.dir)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        wait_for(lambda: self.key_counts()[KEY_B][0] >= 2, what="add-b polled with team-b's key")
        self.assertEqual(d.stop(), 0)
        db = sqlite3.connect(os.path.join(self.dir, "state.db"))
        try:
            self.assertEqual(db.execute("SELECT account FROM jobs WHERE id='add-b'").fetchone(),
                             ("team-b",))
        finally:
            db.close()


if __name__ == "__main__":
    unittest.main()
