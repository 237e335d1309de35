# SPDX-License-Identifier: Apache-2.0
"""systemd/jobwatchd.service: `systemd-analyze verify` is silent, the
sandbox's exposure score stays <= 1.5, and the unit agrees with the daemon
and the example config (credential name, stop timeout, exit codes).

systemd-analyze verify exits 0 on unknown keys (it only warns), so any
output on stderr fails the test. It also needs ExecStart= to exist and
resolves Documentation=man: pages: the test verifies a copy whose ExecStart
is the built binary, with MANPATH pointing at the built man page.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE_DIR = os.environ.get(
    "JOBWATCH_SOURCE_DIR",
    os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
JOBWATCHD = os.environ.get("JOBWATCHD_BIN", "jobwatchd")
MAN_PATH = os.environ.get("JOBWATCH_MAN_PATH", "")
UNIT = os.path.join(SOURCE_DIR, "systemd", "jobwatchd.service")
DROP_IN_EXAMPLE = os.path.join(SOURCE_DIR, "systemd", "jobwatchd.service.d",
                               "hooks-network.conf.example")
MAX_EXPOSURE = 1.5


def unit_settings(text):
    """[Service] etc. as {key: [values]}; comments and blank lines skipped."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key, []).append(value)
    return settings


class UnitFileTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="jobwatch-unit-")
        self.dir = self._tmp.name
        with open(UNIT) as f:
            self.text = f.read()
        self.settings = unit_settings(self.text)
        self.assertEqual(self.settings["ExecStart"],
                         ["/usr/sbin/jobwatchd --config /etc/jobwatchd/jobwatchd.yaml"])
        self.copy = os.path.join(self.dir, "jobwatchd.service")
        with open(self.copy, "w") as f:
            f.write(self.text.replace("/usr/sbin/jobwatchd", os.path.abspath(JOBWATCHD)))

    def tearDown(self):
        self._tmp.cleanup()

    def analyze(self, *args):
        env = dict(os.environ)
        if MAN_PATH:
            env["MANPATH"] = MAN_PATH
        return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                              env=env, timeout=60)

    def test_verify_is_silent(self):
        r = self.analyze("verify", self.copy)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "systemd-analyze verify complained")

    def test_verify_is_silent_with_the_hooks_drop_in_example(self):
        # Every example line switched on (commented "#Key=" lines too), with
        # a writable path that exists here.
        drop_in_dir = os.path.join(self.dir, "jobwatchd.service.d")
        os.mkdir(drop_in_dir)
        os.mkdir(os.path.join(self.dir, "results"))
        with open(DROP_IN_EXAMPLE) as f:
            lines = []
            for line in f:
                if re.match(r"^#[A-Z][A-Za-z]+=", line):
                    line = line[1:]
                if line.startswith("ReadWritePaths="):
                    line = f"ReadWritePaths={self.dir}/results\n"
                lines.append(line)
        with open(os.path.join(drop_in_dir, "hooks-network.conf"), "w") as f:
            f.writelines(lines)
        r = self.analyze("verify", self.copy)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "", "systemd-analyze verify complained about the drop-in")

    def test_exposure_is_at_most_1_5(self):
        r = self.analyze("security", "--offline=yes", "--no-pager", self.copy)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        m = re.search(r"Overall exposure level for jobwatchd\.service: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        score = float(m.group(1))
        print(f"systemd-analyze security exposure: {score}")
        self.assertLessEqual(score, MAX_EXPOSURE, r.stdout)

    def test_unit_agrees_with_the_daemon_and_the_example_config(self):
        s = self.settings
        self.assertEqual(s["Type"], ["notify"])
        # Reload by the shell's builtin kill: no /bin/kill (procps) needed;
        # test_systemd_boot.py reloads it on a minimal Debian.
        self.assertEqual(s["ExecReload"], ["""/bin/sh -c 'kill -HUP "$1"' jobwatchd-reload $MAINPID"""])
        # SIGTERM to jobwatchd only (it drains hooks), SIGKILL to what is left.
        self.assertEqual(s["KillMode"], ["mixed"])
        self.assertIn("WatchdogSec", s)
        # Exit code 1 (bad config or input) must not restart-loop.
        self.assertIn("1", s["RestartPreventExitStatus"][0].split())
        # Running hooks get 20 s, committing state up to 10 s more.
        m = re.fullmatch(r"(\d+)s", s["TimeoutStopSec"][0])
        self.assertIsNotNone(m)
        self.assertGreater(int(m.group(1)), 30)
        # The credential the unit loads is the file the example config reads.
        self.assertEqual(s["LoadCredential"], ["api-key:/etc/jobwatchd/api-key"])
        with open(os.path.join(SOURCE_DIR, "etc", "jobwatchd.yaml")) as f:
            example = f.read()
        self.assertRegex(example, r"(?m)^  api_key_file: \$\{CREDENTIALS_DIRECTORY\}/api-key$")
        # State and config paths of the example are where the unit lets it write/read.
        self.assertEqual(s["StateDirectory"], ["jobwatchd"])
        self.assertIn("path: /var/lib/jobwatchd/state.db", example)
        self.assertEqual(s["ConfigurationDirectory"], ["jobwatchd"])


if __name__ == "__main__":
    if shutil.which("systemd-analyze") is None:
        raise SystemExit("systemd-analyze not found (Debian package systemd)")
    unittest.main(verbosity=2)
