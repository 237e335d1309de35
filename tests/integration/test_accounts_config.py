# SPDX-License-Identifier: Apache-2.0
"""Accounts on the configuration side (SPEC "Accounts"): --check-config
names the file and line of every account problem, and `jobwatchd add
--account` writes drop files that carry the account, or nothing at all."""
import os
import subprocess
import unittest

from harness import DaemonTestCase, JOBWATCHD, daemon_env


def run(*args):
    return subprocess.run([JOBWATCHD, *args], capture_output=True, text=True, timeout=60,
                          env=daemon_env())


CONFIG = """\
    api:
      base_url: https://example.invalid
      rate_limit: 100/min
    accounts:
      - name: team-b
        api_key_env: TEAM_B_KEY
        rate_limit: 1000/min
        threads: 2
    watch:
      file: jobs.yaml
      drop_dir: drop
    state:
      path: state.db
    """


class AccountsConfigTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        os.mkdir(os.path.join(self.dir, "drop"))
        self.config = self.write("jobwatchd.yaml", CONFIG)

    def drop_files(self):
        drop = os.path.join(self.dir, "drop")
        return sorted(n for n in os.listdir(drop) if not n.startswith("."))

    def test_check_config_accepts_known_accounts(self):
        self.write("jobs.yaml", """\
            jobs:
              - job-a
              - id: job-b
                account: team-b
              - id: job-c
                account: default
            """)
        r = run("--check-config", "--config", self.config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK (3 jobs", r.stdout)
        # team-b's key variable is not set: a warning naming the account.
        self.assertIn("warning: account `team-b`: environment variable TEAM_B_KEY", r.stdout)

    def test_check_config_names_an_unknown_account_and_its_line(self):
        jobs = self.write("jobs.yaml", """\
            jobs:
              - job-a
              - id: job-b
                account: team-c
            """)
        r = run("--check-config", "--config", self.config)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{jobs}:3: job \"job-b\" names account `team-c`, which the "
                      "configuration does not define (known: default, team-b)", r.stdout)
        self.assertIn("1 problem found", r.stdout)

    def test_check_config_names_both_lines_of_a_job_under_two_accounts(self):
        jobs = self.write("jobs.yaml", """\
            jobs:
              - id: job-a
                account: team-b
              - job-a
            """)
        r = run("--check-config", "--config", self.config)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"{jobs}:4: job \"job-a\" is listed on line 2 under account `team-b` and "
                      "here under account `default`", r.stdout)

    def test_check_config_names_a_duplicate_account_with_both_lines(self):
        path = self.write("dup.yaml", """\
            accounts:
              - name: team-b
                api_key_env: B
              - name: team-b
                api_key_env: C
            """)
        r = run("--check-config", "--config", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"{path}:4: accounts[1].name: duplicate account name `team-b` "
                      "(first defined on line 2)", r.stdout)

    def test_add_with_account_writes_it_at_the_top_of_the_drop_file(self):
        r = run("add", "--config", self.config, "--account", "team-b", "--label", "k=v",
                "job-1", "job-2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 2 jobs under account team-b", r.stdout)
        [name] = self.drop_files()
        with open(os.path.join(self.dir, "drop", name)) as f:
            text = f.read()
        self.assertEqual(text, 'account: "team-b"\njobs:\n'
                               '  - id: "job-1"\n    labels:\n      "k": "v"\n'
                               '  - id: "job-2"\n    labels:\n      "k": "v"\n')

    def test_add_without_account_writes_no_account(self):
        r = run("add", "--config", self.config, "job-1")
        self.assertEqual(r.returncode, 0, r.stderr)
        [name] = self.drop_files()
        with open(os.path.join(self.dir, "drop", name)) as f:
            self.assertEqual(f.read(), 'jobs:\n  - "job-1"\n')

    def test_add_with_an_unknown_account_writes_nothing(self):
        r = run("add", "--config", self.config, "--account", "team-c", "job-1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{self.config}: no account \"team-c\" (known: default, team-b)", r.stderr)
        self.assertIn("nothing added", r.stderr)
        self.assertEqual(self.drop_files(), [])
        self.assertEqual(os.listdir(os.path.join(self.dir, "drop")), [])

    def test_add_account_needs_a_value(self):
        r = run("add", "--config", self.config, "job-1", "--account")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--account needs an account name", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
