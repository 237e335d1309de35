# SPDX-License-Identifier: Apache-2.0
"""state.backend postgresql, configuration side: --check-config against a
real PostgreSQL (the ctest fixture `postgres`: JOBWATCH_TEST_PG_URL_FILE
names a file holding its URI), and the URI - with its password - never in
anything jobwatchd prints or logs."""
import os
import re
import socket
import subprocess
import unittest
import uuid

from harness import DaemonTestCase, JOBWATCHD, daemon_env

# The test server trusts loopback, so any password is accepted: one that must
# never be shown.
PASSWORD = "Pw-never-shown-5f3a9c"


def server_uri():
    """The fixture server's URI, or None (the test is skipped, or fails
    with JOBWATCH_NO_SKIP=1)."""
    path = os.environ.get("JOBWATCH_TEST_PG_URL_FILE")
    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().strip()


def psql(uri, sql):
    return subprocess.run(["psql", uri, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                          capture_output=True, text=True, timeout=60)


def host_port(uri):
    m = re.match(r"postgresql://[^@/]*@([^/:]+):(\d+)/", uri)
    return m.group(1), int(m.group(2))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresConfigTest(DaemonTestCase):
    @classmethod
    def setUpClass(cls):
        uri = server_uri()
        if uri is None or psql(uri, "select 1").returncode != 0:
            why = "no PostgreSQL test server (ctest fixture `postgres`)"
            if os.environ.get("JOBWATCH_NO_SKIP"):
                raise RuntimeError(why)
            raise unittest.SkipTest(why)
        cls.host, cls.port = host_port(uri)
        cls.db = "jw_cfg_" + uuid.uuid4().hex[:12]
        r = psql(uri, f"CREATE DATABASE {cls.db}")
        assert r.returncode == 0, r.stderr
        cls.admin_uri = uri

    @classmethod
    def tearDownClass(cls):
        psql(cls.admin_uri, f"DROP DATABASE IF EXISTS {cls.db} WITH (FORCE)")

    def uri(self, port=None):
        return (f"postgresql://postgres:{PASSWORD}@{self.host}:{port or self.port}/{self.db}"
                "?connect_timeout=5")

    def config(self, state):
        return self.write("jobwatchd.yaml", "api:\n  base_url: https://api.example.invalid\n"
                          "state:\n  backend: postgresql\n" + state)

    def check(self, config, **env):
        r = subprocess.run([JOBWATCHD, "--check-config", "--config", config],
                           capture_output=True, text=True, timeout=120, env=daemon_env(**env))
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        self.assertNotIn("postgresql://", r.stdout + r.stderr)
        return r

    def expect_reachable(self, r):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A fresh database: no schema yet, created when the daemon first starts.
        self.assertRegex(r.stdout, re.compile(
            r"^state: postgresql 1\d\.\d+.* at " + re.escape(f"{self.host}:{self.port}/{self.db}") +
            r", schema version 0 \(created at first start\)$", re.M))
        self.assertIn("configuration OK", r.stdout)

    def test_reachable_server_by_url_file(self):
        self.write("pg-url", self.uri() + "\n")
        self.expect_reachable(self.check(self.config("  url_file: pg-url\n")))

    def test_reachable_server_by_credential(self):
        creds = os.path.join(self.dir, "credentials")
        os.mkdir(creds)
        with open(os.path.join(creds, "postgresql-url"), "w") as f:
            f.write(self.uri())
        config = self.config("  url_file: ${CREDENTIALS_DIRECTORY}/postgresql-url\n")
        self.expect_reachable(self.check(config, CREDENTIALS_DIRECTORY=creds))

    def test_reachable_server_by_url_env(self):
        config = self.config("  url_env: JOBWATCH_PG_URL\n")
        self.expect_reachable(self.check(config, JOBWATCH_PG_URL=self.uri()))

    def test_unreachable_server_names_the_key_not_the_uri(self):
        self.write("pg-url", self.uri(port=free_port()) + "\n")
        r = self.check(self.config("  url_file: pg-url\n"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("state.url_file: the PostgreSQL database at", r.stdout)
        self.assertIn("1 problem found", r.stdout)
        self.assertNotIn("configuration OK", r.stdout)

    def test_unreachable_server_by_url_env(self):
        config = self.config("  url_env: JOBWATCH_PG_URL\n")
        r = self.check(config, JOBWATCH_PG_URL=self.uri(port=free_port()))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("state.url_env: the PostgreSQL database at", r.stdout)

    def test_unset_variable_is_a_warning_like_a_missing_api_key(self):
        # Only the service may be able to read the URI: the check says so and
        # does not connect.
        r = self.check(self.config("  url_env: JOBWATCH_PG_URL\n"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("warning: state.url_env: environment variable JOBWATCH_PG_URL", r.stdout)
        self.assertIn("the database was not checked", r.stdout)

    def test_bad_keys_are_named_with_their_line(self):
        r = self.check(self.config("  url_file: pg-url\n  url_env: PG\n  instance: -x\n"
                                   "  lease: 1s\n"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("jobwatchd.yaml:6: state.url_env: set either", r.stdout)
        self.assertIn("jobwatchd.yaml:7: state.instance:", r.stdout)
        self.assertIn("jobwatchd.yaml:8: state.lease: must be between 3s and 10m", r.stdout)

    def test_daemon_that_cannot_reach_the_database_never_shows_the_uri(self):
        self.write("pg-url", self.uri(port=free_port()) + "\n")
        config = self.config("  url_file: pg-url\n")
        r = subprocess.run([JOBWATCHD, "--config", config], capture_output=True, text=True,
                           timeout=120, env=daemon_env())
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("state.url_file", r.stderr)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)
        self.assertNotIn("postgresql://", r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
