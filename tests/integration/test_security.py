# SPDX-License-Identifier: Apache-2.0
"""Security checks with the real daemon (issue: Reliability; SPEC "Security",
"Watch list"): hostile job IDs never reach a URL, a path or a hook's argv;
the API key never reaches a log, a hook or /metrics.

The API here is a small recording HTTP server rather than the fake API: it
keeps every request line, whatever the path. The fake API only logs
requests under /jobs/, and libcurl would resolve "../" in a URL to a path
outside it, so only a server that records everything can show that no such
request was ever made. (Redirects to another host: test_faults.py.)
"""
import http.server
import json
import os
import re
import socketserver
import sqlite3
import subprocess
import threading
import time
import unittest

from harness import JOBWATCHD, TEST_KEY, DaemonTestCase, daemon_env, wait_for

# Every hostile ID carries "evil", so one search finds any trace of one.
BAD_IDS = [
    "../../evil-dotdot",
    "evil..%2F..%2Fetc",
    "evil%2Fslash",
    "evil/slash",
    "evil space",
    "evil\nnewline forged=1",
    "evil\ttab",
    "evil\rcr",
    "$(touch evil-pwned-subst)",
    "`touch evil-pwned-tick`",
    "evil;touch evil-pwned-semi",
    "evil|cat",
    "evil&&id",
    "evil>evil-out",
    "evil'quote",
    'evil"dquote',
    "evil?q=1",
    "evil#frag",
    "evil\u00e9",
    "evil" + "x" * 200,
]
# The plain-text drop format cannot hold line breaks, and "#" starts a
# comment there ("evil#frag" is the ID "evil"): every other one fits.
BAD_TEXT_IDS = [i for i in BAD_IDS if not any(c in i for c in "\n\r#")]

HOOK = """#!/bin/sh
run="$1/run.$JOBWATCH_EVENT_ID"
printf '%s\\n' "$0" "$@" > "$run.argv"
env > "$run.env"
cat > "$run.stdin"
"""


class RecordingApi:
    """GET /jobs/{id}: answers from `statuses` when the key matches; a few
    IDs misbehave on purpose, echoing the key back. Records every request."""

    def __init__(self, key, statuses):
        self.key = key
        self.statuses = dict(statuses)
        self.requests = []  # (path, {header: value})
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, code, body, content_type="application/json", headers=()):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                with api.lock:
                    api.requests.append((self.path, dict(self.headers)))
                m = re.fullmatch(r"/jobs/([A-Za-z0-9_-]+)", self.path)
                job = m.group(1) if m else None
                presented = self.headers.get("X-API-Key", "")
                # Misbehaving endpoints that repeat the credentials they got.
                if job == "sec-echo-401":
                    return self.answer(401, json.dumps({"detail": f"bad key {presented}"}),
                                       headers=[("WWW-Authenticate", f"Key {presented}")])
                if job == "sec-echo-500":
                    return self.answer(500, f"<pre>X-API-Key: {presented}</pre>", "text/html")
                if job == "sec-echo-html":  # a 200 that is not JSON, key first
                    return self.answer(200, f"{presented} is not a valid key<br>", "text/html")
                if job == "sec-echo-302":
                    return self.answer(302, "{}", headers=[
                        ("Location", f"http://127.0.0.2:9/steal?key={presented}")])
                if job is None or job not in api.statuses:
                    return self.answer(404, '{"detail":"Job not found"}')
                if presented != api.key:
                    return self.answer(401, '{"detail":"Invalid API key"}')
                return self.answer(200, json.dumps(
                    {"id": job, "status": api.statuses[job], "type": "extraction"}))

            do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def paths(self):
        with self.lock:
            return [p for p, _ in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class FakeHandle:
    """What DaemonTestCase.write_config needs (base_url) and tearDown stops."""

    def __init__(self, api):
        self.api = api
        self.base_url = api.base_url

    def stop(self):
        self.api.stop()


class SecurityTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(self.hookdir)
        self.hook = self.write("hook.sh", HOOK)
        os.chmod(self.hook, 0o755)
        self.cwd_before = set(os.listdir(os.getcwd()))

    def start_api(self, statuses, key=TEST_KEY):
        self.api = RecordingApi(key, statuses)
        self.fake = FakeHandle(self.api)
        return self.api

    def hooks_yaml(self):
        return f"""\
hooks:
  definitions:
    - name: record
      on: ["*"]
      command: ["{self.hook}", "{self.hookdir}", "--job", "fixed-arg"]
      timeout: 10s
"""

    def hook_files(self):
        out = {}
        for name in os.listdir(self.hookdir):
            with open(os.path.join(self.hookdir, name), "rb") as f:
                out[name] = f.read()
        return out

    def files_named(self, needle):
        found = []
        for root in (self.dir, os.getcwd()):
            for base, dirs, files in os.walk(root):
                found += [os.path.join(base, n) for n in files + dirs if needle in n]
        return found


class HostileIdTest(SecurityTestCase):
    def test_hostile_ids_are_rejected_with_file_and_line_and_go_nowhere(self):
        good = ["sec-good-1", "sec-good-2", "sec-drop-good"]
        api = self.start_api({j: "COMPLETED" for j in good})
        # The watch file: good entries around every bad one, both list forms.
        lines = ["jobs:", "  - sec-good-1"]
        bad_lines = {}
        for n, bad in enumerate(BAD_IDS):
            entry = json.dumps(bad)  # a JSON string is a YAML double-quoted scalar
            lines.append(f"  - {entry}" if n % 2 == 0 else f"  - {{id: {entry}}}")
            bad_lines[len(lines)] = bad
        lines.append("  - {id: sec-good-2, labels: {team: a}}")
        config = self.write_config([], log_level="trace", extra=self.hooks_yaml())
        with open(os.path.join(self.dir, "jobs.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")
        drop = os.path.join(self.dir, "drop")
        with open(config) as f:
            text = f.read().replace("watch:\n  file: jobs.yaml\n",
                                    f"watch:\n  file: jobs.yaml\n  drop_dir: {drop}\n")
        with open(config, "w") as f:
            f.write(text)

        d = self.start_daemon(config)
        d.wait_log("jobwatchd started")

        # Watch file: one rejection per bad entry, naming file and line.
        rejected = d.lines("watch file entry rejected")
        self.assertEqual(len(rejected), len(BAD_IDS), "\n".join(rejected))
        for line_no in bad_lines:
            self.assertTrue(any(f"jobs.yaml:{line_no}:" in r for r in rejected),
                            f"no rejection names jobs.yaml:{line_no}")
        self.assertEqual(d.metric('jobwatch_watch_rejected_total{source="file"}'), len(BAD_IDS))

        # Drop files: YAML and plain text, each all-or-nothing.
        os.mkdir(os.path.join(self.dir, "stage"))

        def drop_file(name, text):
            staged = os.path.join(self.dir, "stage", name)
            with open(staged, "w") as f:
                f.write(text)
            os.rename(staged, os.path.join(drop, name))
        yaml_lines = ["jobs:", "  - sec-drop-in-bad-file"] + [
            f"  - {json.dumps(b)}" for b in BAD_IDS]
        drop_file("hostile.yaml", "\n".join(yaml_lines) + "\n")
        drop_file("hostile.txt", "# comment\nsec-drop-in-bad-file\n" +
                  "".join(b + "\n" for b in BAD_TEXT_IDS))
        # YAML that yaml-cpp 0.7's LoadAll never returns from (it used to
        # hang the daemon, eating memory): rejected like any bad file.
        drop_file("hang.yaml", ",\n")
        drop_file("fine.txt", "sec-drop-good\n")
        rejected_dir = os.path.join(drop, ".rejected")
        wait_for(lambda: os.path.isdir(rejected_dir) and len(
            [n for n in os.listdir(rejected_dir) if n.endswith(".reason")]) == 3,
            timeout=15, what="the hostile drop files rejected")
        with open(os.path.join(rejected_dir, "hostile.yaml.reason")) as f:
            reason_yaml = f.read()
        with open(os.path.join(rejected_dir, "hostile.txt.reason")) as f:
            reason_txt = f.read()
        for n in range(len(BAD_IDS)):
            self.assertIn(f"hostile.yaml:{n + 3}:", reason_yaml)
        for n in range(len(BAD_TEXT_IDS)):
            self.assertIn(f"hostile.txt:{n + 3}:", reason_txt)
        for reason in (reason_yaml, reason_txt):
            for line in reason.splitlines():
                self.assertRegex(line, r"^/\S*/hostile\.(yaml|txt):\d+: ", "one problem per line")

        wait_for(lambda: os.path.exists(os.path.join(drop, ".processed", "fine.txt")),
                 what="the good drop file taken")

        # `jobwatchd add`: every bad argument named, nothing written.
        drop_before = sorted(os.listdir(drop))
        r = subprocess.run([JOBWATCHD, "add", "--config", config, "sec-add-ok", *BAD_IDS],
                           capture_output=True, text=True, timeout=30, env=daemon_env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nothing added", r.stderr)
        self.assertEqual(r.stderr.count("invalid job ID"), len(BAD_IDS), r.stderr)
        self.assertEqual(sorted(os.listdir(drop)), drop_before, "add wrote nothing")

        # The good jobs run their course; hooks see only good IDs.
        wait_for(lambda: len([n for n in os.listdir(self.hookdir) if n.endswith(".argv")]) ==
                 len(good), timeout=20, what="the good jobs' hooks")
        metrics = d.scrape()
        self.assertEqual(d.stop(), 0)

        # Never a URL: every request the API got is for a good job.
        paths = api.paths()
        self.assertTrue(paths)
        self.assertEqual(sorted(set(paths)), sorted(f"/jobs/{j}" for j in good), paths)
        # Never a path: no file named after a bad ID, no shell ever ran one.
        self.assertEqual(self.files_named("evil"), [])
        self.assertEqual(set(os.listdir(os.getcwd())) - self.cwd_before, set())
        # Never argv, environment or stdin of a hook.
        for name, content in self.hook_files().items():
            self.assertNotIn(b"evil", content, name)
            self.assertNotIn("evil", name)
        # Never watched, stored or exported.
        db = sqlite3.connect(os.path.join(self.dir, "state.db"))
        stored = sorted(r[0] for r in db.execute("SELECT id FROM jobs"))
        db.close()
        self.assertEqual(stored, sorted(good))
        self.assertNotIn("evil", "".join(
            l for l in metrics.splitlines() if not l.startswith("#")))
        # Log lines cannot be forged: a newline inside an ID stays inside
        # its line (every line starts with a timestamp and level).
        for line in d.text().splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT[\d:.]+Z (trace|debug|info|warning|error) ")
            self.assertFalse(line.startswith("newline"))


class ApiKeyTest(SecurityTestCase):
    def run_daemon_and_collect(self, name, log_format, key_source):
        """Runs one daemon at trace level until the good job's hooks ran and
        every misbehaving endpoint was polled; returns (log, /metrics)."""
        env = daemon_env()
        api_extra = {}
        if key_source == "file":
            key_file = self.write("api-key", TEST_KEY + "\n")
            os.chmod(key_file, 0o400)
            api_extra["api_key_file"] = key_file
            env = daemon_env(key=None)
        config = self.write_config(
            ["sec-key-ok", "sec-echo-401", "sec-echo-500", "sec-echo-302", "sec-echo-html"],
            api=api_extra, log_level="trace", log_format=log_format,
            poll={"interval": "200ms", "jitter": "0", "backoff_max": "1s"},
            extra=self.hooks_yaml(), name=f"{name}.yaml")
        with open(config) as f:
            text = f.read().replace("state.db", f"{name}.db")
        with open(config, "w") as f:
            f.write(text)
        # The fake API is shared by both runs: count only this run's requests.
        before = len(self.api.paths())
        ours = lambda: self.api.paths()[before:]
        d = self.start_daemon(config, env=env, name=name)
        if log_format == "json":  # harness.Daemon.metrics_url() reads the text form
            url = json.loads(d.wait_log('"metrics served"')[0])["url"]
            d.metrics_url = lambda: url
        marker = "run.sec-key-ok:completed.argv"
        wait_for(lambda: os.path.exists(os.path.join(self.hookdir, marker)), timeout=20,
                 what=f"{name}: the hook")
        wait_for(lambda: all(any(p == f"/jobs/{j}" for p in ours())
                             for j in ("sec-echo-401", "sec-echo-500", "sec-echo-302",
                                                       "sec-echo-html")),
                 what=f"{name}: the misbehaving endpoints polled")
        # A few more error polls (backoff 1 s) for the log.
        wait_for(lambda: all(ours().count(f"/jobs/{j}") >= 3
                             for j in ("sec-echo-401", "sec-echo-500", "sec-echo-html")),
                 what=f"{name}: more polls of the misbehaving endpoints")
        metrics = d.scrape()
        self.assertEqual(d.stop(), 0)
        os.rename(os.path.join(self.hookdir, marker), os.path.join(self.hookdir, name + ".argv"))
        return d.text(), metrics

    def test_api_key_never_in_logs_hooks_or_metrics(self):
        api = self.start_api({"sec-key-ok": "COMPLETED"})
        results = {}
        for name, fmt, source in (("text-env", "text", "env"), ("json-file", "json", "file")):
            log, metrics = self.run_daemon_and_collect(name, fmt, source)
            results[name] = (log, metrics)
            self.assertIn('"poll"' if fmt == "json" else " poll ", log, "trace lines present")
            self.assertIn("auth_error", log)
            if fmt == "json":
                for line in log.splitlines():
                    json.loads(line)
        # The key was really sent (to base_url), and only there.
        sent = [h.get("X-API-Key") for _, h in api.requests]
        self.assertTrue(sent and all(k == TEST_KEY for k in sent), set(sent))
        for name, (log, metrics) in results.items():
            self.assertNotIn(TEST_KEY, log, f"{name}: key in the log")
            self.assertNotIn(TEST_KEY, metrics, f"{name}: key in /metrics")
        for fname, content in self.hook_files().items():
            self.assertNotIn(TEST_KEY.encode(), content, f"key in hook data {fname}")
            if fname.endswith(".env"):
                self.assertNotIn(b"UNSILOED_API_KEY", content)


if __name__ == "__main__":
    unittest.main(verbosity=2)
