# SPDX-License-Identifier: Apache-2.0
"""jobwatchd's command line: --check-config, --once, usage and exit codes."""
import subprocess
import unittest

from harness import DaemonTestCase, JOBWATCHD, daemon_env


def run(*args, env=None):
    return subprocess.run([JOBWATCHD, *args], capture_output=True, text=True, timeout=60,
                          env=env or daemon_env())


class CliTest(DaemonTestCase):
    def test_check_config_names_a_misspelt_key_and_its_line(self):
        path = self.write("bad.yaml", """\
            api:
              base_url: https://example.invalid
            poll:
              intervall: 5s
            """)
        r = run("--check-config", "--config", path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("bad.yaml:4", r.stdout)
        self.assertIn("poll.intervall", r.stdout)

    def test_check_config_accepts_a_good_config(self):
        self.start_fake("jobs: [{id: a, status: queued}]")
        path = self.write_config(["a", "b"])
        r = run("--check-config", "--config", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("configuration OK (2 jobs", r.stdout)

    def test_check_config_reports_bad_watch_entries(self):
        self.start_fake("jobs: [{id: a, status: queued}]")
        path = self.write_config(["a", '"../../etc/passwd"'])
        r = run("--check-config", "--config", path)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("jobs.yaml:3", r.stdout)

    def test_service_refuses_to_start_on_bad_config(self):
        path = self.write("bad.yaml", "poll: {interval: fast}\n")
        r = run("--config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("poll.interval", r.stderr)

    def test_missing_key_is_bad_input_and_names_the_variable(self):
        self.start_fake("jobs: [{id: a, status: queued}]")
        r = run("--config", self.write_config(["a"]), env=daemon_env(key=None))
        self.assertEqual(r.returncode, 1)
        self.assertIn("UNSILOED_API_KEY", r.stderr)

    def test_once_prints_a_table_and_exits_zero(self):
        self.start_fake("""
            jobs:
              - {id: job-a, type: extraction, pdf_name: a.pdf, status: PROCESSING}
              - {id: job-b, type: extraction, pdf_name: b.pdf, status: FAILED, error: boom}
            """)
        r = run("--once", "--config", self.write_config(["job-a", "job-b"]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "STATUS", "TYPE", "PDF", "NAME", "ERROR"])
        self.assertEqual(lines[1].split(), ["job-a", "processing", "extraction", "a.pdf", "-"])
        self.assertEqual(lines[2].split(), ["job-b", "failed", "extraction", "b.pdf", "boom"])

    def test_once_exits_one_when_a_poll_fails(self):
        self.start_fake("""
            jobs:
              - {id: job-a, status: PROCESSING}
              - id: job-err
                status: PROCESSING
                faults: [{kind: http, code: 500}]
            """)
        r = run("--once", "--config", self.write_config(["job-a", "job-err"]))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("poll failed: http_error", r.stdout)

    def test_usage_errors_exit_two(self):
        self.assertEqual(run("--bogus").returncode, 2)
        self.assertEqual(run("--once", "--check-config").returncode, 2)
        self.assertEqual(run("--config").returncode, 2)

    def test_version_and_help(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^jobwatchd \d+\.\d+\.\d+")
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("--check-config", r.stdout)
        self.assertIn("control.group", r.stdout)
        self.assertIn("GET / on metrics.listen", r.stdout)
        # COMMAND --help is help too, not a usage error
        for args in (("status", "--help"), ("add", "--help"), ("show", "-h"),
                     ("jobs", "--json", "--help")):
            r = run(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("Usage: jobwatchd", r.stdout, args)
            self.assertEqual(r.stderr, "", args)


if __name__ == "__main__":
    unittest.main(verbosity=2)
