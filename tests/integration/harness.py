# SPDX-License-Identifier: Apache-2.0
"""Integration harness: runs the real jobwatchd against the real fake API on
loopback, in a temporary directory, with bounded waits (never bare sleeps).

Binaries come from the environment (set by ctest): JOBWATCHD_BIN, FAKEAPI_BIN.
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import textwrap
import time
import unittest
import urllib.request

JOBWATCHD = os.environ.get("JOBWATCHD_BIN", "jobwatchd")
FAKEAPI = os.environ.get("FAKEAPI_BIN", "fakeapi")
TEST_KEY = "sk-test-0123456789abcdef"


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls predicate until it returns a truthy value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class FakeApi:
    def __init__(self, workdir, scenario_yaml):
        self.workdir = workdir
        path = os.path.join(workdir, "scenario.yaml")
        scenario = textwrap.dedent(scenario_yaml)
        if "timeline_start" not in scenario:
            # Timelines count from each job's first poll, not from when the
            # fake API started, so tests do not depend on start-up speed.
            scenario = "timeline_start: first_request\n" + scenario
        with open(path, "w") as f:
            f.write(scenario)
        port_file = os.path.join(workdir, "fakeapi.port")
        self.log = open(os.path.join(workdir, "fakeapi.log"), "w")
        self.proc = subprocess.Popen(
            [FAKEAPI, "--scenario", path, "--listen", "127.0.0.1:0", "--port-file", port_file],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file) or self.proc.poll() is not None,
                 what="fakeapi port file")
        if self.proc.poll() is not None:
            raise AssertionError("fakeapi exited early: " + open(self.log.name).read())
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.base_url = f"http://127.0.0.1:{self.port}"

    def admin(self, method, path):
        req = urllib.request.Request(self.base_url + path, method=method)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read() or b"{}")

    def requests_for(self, job_id):
        return self.admin("GET", f"/_admin/requests?job={job_id}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Daemon:
    """A jobwatchd process; its stderr (the log) goes to a file we can read."""

    def __init__(self, workdir, config_path, extra_args=(), env=None, name="jobwatchd"):
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([JOBWATCHD, "--config", config_path, *extra_args],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=env)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def lines(self, needle):
        return [l for l in self.text().splitlines() if needle in l]

    def wait_log(self, needle, count=1, timeout=15):
        wait_for(lambda: len(self.lines(needle)) >= count or self.proc.poll() is not None,
                 timeout=timeout, what=f"{count}x {needle!r} in the log")
        found = self.lines(needle)
        if len(found) < count:
            raise AssertionError(f"jobwatchd exited ({self.proc.returncode}) before logging "
                                 f"{needle!r}:\n{self.text()[-3000:]}")
        return found

    def alive(self):
        return self.proc.poll() is None

    def metrics_url(self):
        line = self.wait_log("metrics served")[0]
        return line.split("url=", 1)[1].split()[0].strip('"')

    def scrape(self):
        with urllib.request.urlopen(self.metrics_url(), timeout=5) as r:
            return r.read().decode()

    def metric(self, name_and_labels):
        """The value of a series from /metrics, e.g. 'jobwatch_jobs{status="completed"}':
        the sum over every series of that name whose labels include the
        ones given (so 'jobwatch_polls_total{result="ok"}' adds up the
        accounts); None when there is none."""
        return metric_value(self.scrape(), name_and_labels)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("jobwatchd did not stop within %ss" % timeout)
        self.log.close()
        return rc


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\]|\\\\.)*)"')


def _series(name_and_labels):
    name, _, labels = name_and_labels.partition("{")
    return name, dict(_LABEL.findall(labels))


def metric_value(text, name_and_labels):
    """Sum of the series of `text` (Prometheus text) named like
    `name_and_labels` whose labels include its labels; None if none."""
    want_name, want = _series(name_and_labels)
    total, found = 0.0, False
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name, labels = _series(series)
        if name == want_name and all(labels.get(k) == v for k, v in want.items()):
            total += float(value)
            found = True
    return total if found else None


def daemon_env(key=TEST_KEY, **extra):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if key is not None:
        env["UNSILOED_API_KEY"] = key
    env.update(extra)
    return env


class DaemonTestCase(unittest.TestCase):
    """Gives each test a temp dir, a fake API and helpers to write configs."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="jobwatch-it-")
        self.dir = self._tmp.name
        self.fake = None
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.alive():
                d.stop(signal.SIGKILL)
        if self.fake:
            self.fake.stop()
        if os.environ.get("KEEP_TMP"):
            self._tmp._finalizer.detach()  # not removed at exit either
            print("kept", self.dir)
        else:
            self._tmp.cleanup()

    def start_fake(self, scenario):
        self.fake = FakeApi(self.dir, scenario)
        return self.fake

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def write_config(self, jobs, api=None, poll=None, extra="", name="jobwatchd.yaml",
                     log_level="info", log_format="text"):
        """Writes jobs.yaml and a config polling the fake API fast; `api` and
        `poll` override keys of those sections."""
        self.write("jobs.yaml", "jobs:\n" + "".join(f"  - {j}\n" for j in jobs))
        api_keys = {"base_url": self.fake.base_url, "allow_insecure_http": "true",
                    "rate_limit": "0", "request_timeout": "2s", "connect_timeout": "1s"}
        api_keys.update(api or {})
        poll_keys = {"interval": "200ms", "jitter": "0", "backoff_max": "2s"}
        poll_keys.update(poll or {})
        section = lambda keys: "".join(f"  {k}: {v}\n" for k, v in keys.items())
        return self.write(name, "api:\n" + section(api_keys) + "poll:\n" + section(poll_keys) +
                          "watch:\n  file: jobs.yaml\n"
                          "state:\n  path: state.db\n"
                          "metrics:\n  listen: 127.0.0.1:0\n"
                          f"logging:\n  level: {log_level}\n  format: {log_format}\n" +
                          textwrap.dedent(extra))

    def start_daemon(self, config_path, *args, env=None, name="jobwatchd"):
        d = Daemon(self.dir, config_path, args, env=env or daemon_env(), name=name)
        self.daemons.append(d)
        return d
