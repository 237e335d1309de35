#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Self-test of the fakeapi binary: starts the real program on port 0 with a
scenario in a temp dir and checks what a client sees over HTTP.

Standard library only. The binary comes from $FAKEAPI_BIN (ctest sets it).
Waits are bounded polling loops on a condition, never sleeps that hope.
"""

import http.client
import concurrent.futures
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

BIN = os.environ.get("FAKEAPI_BIN", "")
KEY = "test-key"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def wait_until(condition, timeout=10.0, interval=0.02, what="condition"):
    """Polls `condition` until it returns a truthy value or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class FakeApi:
    """One running fakeapi process serving `scenario` (YAML text)."""

    def __init__(self, scenario, extra_args=()):
        self.dir = tempfile.TemporaryDirectory(prefix="fakeapi-test-")
        self.scenario_path = os.path.join(self.dir.name, "scenario.yaml")
        with open(self.scenario_path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(scenario))
        port_file = os.path.join(self.dir.name, "port")
        self.proc = subprocess.Popen(
            [BIN, "--scenario", self.scenario_path, "--listen", "127.0.0.1:0",
             "--port-file", port_file, *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def port_written():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"fakeapi exited {self.proc.returncode}: {self.proc.stderr.read().decode()}")
            return os.path.exists(port_file)

        wait_until(port_written, what="the port file")
        with open(port_file, encoding="ascii") as f:
            self.port = int(f.read().strip())
        # The line is printed before the port file is renamed into place.
        self.listening_line = self.proc.stdout.readline().decode()

    def connection(self, timeout=5.0):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, headers=None, key=KEY, body=None, timeout=5.0):
        """Returns (status, headers as a lowercase dict, body bytes)."""
        h = dict(headers or {})
        if key is not None:
            h["X-API-Key"] = key
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def get_json(self, path, **kwargs):
        status, headers, data = self.request("GET", path, **kwargs)
        return status, json.loads(data)

    def admin(self, method, path):
        status, _, data = self.request(method, "/_admin/" + path, key=None)
        if status != 200:
            raise AssertionError(f"{method} /_admin/{path} -> {status} {data!r}")
        return json.loads(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.dir.cleanup()


MAIN_SCENARIO = """\
    api_key: test-key
    timeline_start: first_request
    jobs:
      - id: job-full
        type: extraction
        pdf_name: 'financial "report".pdf'
        pdf_hash: "sha256:abc123"
        user_id: user_123
        created_at: "2024-01-15T10:30:00.000Z"
        error: "must not be sent while PROCESSING"
        status: PROCESSING
      - id: job-bare
        status: queued
      - id: job-failed
        status: FAILED
        error: "OCR failed"
      - id: job-alt
        id_field: job_id
        status: Completed
      - id: job-timeline
        timeline:
          - {at: 0s, status: queued}
          - {at: 300ms, status: PROCESSING}
          - {at: 600ms, status: COMPLETED}
    generate:
      - {prefix: gen-, count: 50, status: PROCESSING, type: extraction}
"""


class FakeApiTest(unittest.TestCase):
    """Behaviour over HTTP against one shared server. Tests that add faults
    use count-limited ones or clear them when done."""

    @classmethod
    def setUpClass(cls):
        cls.api = FakeApi(MAIN_SCENARIO)

    @classmethod
    def tearDownClass(cls):
        rc = cls.api.stop()
        assert rc == 0, f"fakeapi exited {rc} on SIGTERM"

    def clear_faults_after(self):
        self.addCleanup(self.api.admin, "DELETE", "faults")

    def add_fault(self, query):
        self.assertEqual(self.api.admin("POST", "faults?" + query), {"ok": True})

    # --- startup -------------------------------------------------------

    def test_prints_listening_line(self):
        self.assertEqual(self.api.listening_line, f"fakeapi listening on 127.0.0.1:{self.api.port}\n")

    # --- job JSON ------------------------------------------------------

    def test_job_fields(self):
        status, headers, data = self.api.request("GET", "/jobs/job-full")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(int(headers["content-length"]), len(data))
        job = json.loads(data)
        self.assertEqual(job["id"], "job-full")
        self.assertEqual(job["status"], "PROCESSING")
        self.assertEqual(job["type"], "extraction")
        self.assertEqual(job["pdf_name"], 'financial "report".pdf')
        self.assertEqual(job["pdf_hash"], "sha256:abc123")
        self.assertEqual(job["user_id"], "user_123")
        self.assertEqual(job["created_at"], "2024-01-15T10:30:00.000Z")
        self.assertRegex(job["updated_at"], ISO_MS)
        self.assertIsNone(job["error"], "error is sent only while FAILED")

    def test_missing_fields_are_null(self):
        status, job = self.api.get_json("/jobs/job-bare")
        self.assertEqual(status, 200)
        self.assertEqual(job["id"], "job-bare")
        self.assertEqual(job["status"], "queued")
        for field in ("type", "created_at", "pdf_name", "pdf_hash", "user_id", "error"):
            self.assertIn(field, job)
            self.assertIsNone(job[field], field)
        self.assertRegex(job["updated_at"], ISO_MS)

    def test_failed_job_carries_error(self):
        status, job = self.api.get_json("/jobs/job-failed")
        self.assertEqual(status, 200)
        self.assertEqual(job["status"], "FAILED")
        self.assertEqual(job["error"], "OCR failed")

    def test_job_id_field_variant(self):
        status, job = self.api.get_json("/jobs/job-alt")
        self.assertEqual(status, 200)
        self.assertEqual(job["job_id"], "job-alt")
        self.assertNotIn("id", job)
        self.assertEqual(job["status"], "Completed", "statuses are sent as written")

    def test_timeline_progresses_from_first_request(self):
        seen = []
        updated = {}

        def completed():
            status, job = self.api.get_json("/jobs/job-timeline")
            self.assertEqual(status, 200)
            if not seen or seen[-1] != job["status"]:
                seen.append(job["status"])
                updated[job["status"]] = job["updated_at"]
            return job["status"] == "COMPLETED"

        started = time.monotonic()
        wait_until(completed, timeout=10, what="job-timeline to complete")
        self.assertGreaterEqual(time.monotonic() - started, 0.55)
        self.assertEqual(seen[0], "queued", "the clock starts at the first request")
        self.assertEqual(seen, [s for s in ["queued", "PROCESSING", "COMPLETED"] if s in seen])
        self.assertEqual(len(set(updated.values())), len(updated), "updated_at moves with status")
        status, result = self.api.get_json("/jobs/job-timeline/result")
        self.assertEqual((status, result), (200, {"job_id": "job-timeline", "result": {"pages": 1}}))

    def test_result_endpoint(self):
        self.assertEqual(self.api.get_json("/jobs/job-bare/result"),
                         (409, {"detail": "Result not ready"}))
        self.assertEqual(self.api.get_json("/jobs/job-alt/result"),
                         (200, {"job_id": "job-alt", "result": {"pages": 1}}))
        self.assertEqual(self.api.get_json("/jobs/no-such-job/result"),
                         (404, {"detail": "Job not found"}))

    def test_unknown_job_is_404(self):
        self.assertEqual(self.api.get_json("/jobs/no-such-job"), (404, {"detail": "Job not found"}))

    def test_other_paths_are_404(self):
        for path in ("/", "/jobs", "/jobs/", "/jobs/job-bare/other", "/v1/jobs/job-bare"):
            status, _, _ = self.api.request("GET", path)
            self.assertEqual(status, 404, path)

    def test_generated_jobs(self):
        self.assertEqual(self.api.get_json("/jobs/gen-49")[1]["status"], "PROCESSING")
        self.assertEqual(self.api.get_json("/jobs/gen-49")[1]["type"], "extraction")
        self.assertEqual(self.api.get_json("/jobs/gen-50")[0], 404)

    # --- API key -------------------------------------------------------

    def test_missing_or_wrong_key_is_401(self):
        self.assertEqual(self.api.get_json("/jobs/job-bare", key=None),
                         (401, {"detail": "Invalid API key"}))
        self.assertEqual(self.api.get_json("/jobs/job-bare", key="wrong")[0], 401)
        self.assertEqual(self.api.get_json("/jobs/no-such-job", key="wrong")[0], 401)
        self.assertEqual(self.api.get_json("/jobs/job-bare")[0], 200)
        self.assertEqual(self.api.request("GET", "/_admin/health", key=None)[0], 200)

    def test_admin_changes_key(self):
        self.addCleanup(self.api.admin, "POST", "key?value=" + KEY)
        self.api.admin("POST", "key?value=rotated")
        self.assertEqual(self.api.get_json("/jobs/job-bare")[0], 401)
        self.assertEqual(self.api.get_json("/jobs/job-bare", key="rotated")[0], 200)
        self.api.admin("POST", "key?value=")
        self.assertEqual(self.api.get_json("/jobs/job-bare", key=None)[0], 200)

    # --- faults --------------------------------------------------------

    def test_global_http_fault_with_retry_after_then_normal(self):
        self.clear_faults_after()
        self.add_fault("kind=http&code=503&retry_after=2&count=2")
        for _ in range(2):
            status, headers, data = self.api.request("GET", "/jobs/gen-1")
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("retry-after"), "2")
            self.assertEqual(json.loads(data), {"detail": "Service Unavailable"})
        status, headers, _ = self.api.request("GET", "/jobs/gen-1")
        self.assertEqual(status, 200)
        self.assertNotIn("retry-after", headers)

    def test_http_fault_redirect_location(self):
        self.clear_faults_after()
        self.add_fault("kind=http&code=302&location=http%3A%2F%2Fevil.example%2Fsteal&job=gen-2&count=1")
        status, headers, _ = self.api.request("GET", "/jobs/gen-2")
        self.assertEqual(status, 302)
        self.assertEqual(headers["location"], "http://evil.example/steal")
        self.assertEqual(self.api.request("GET", "/jobs/gen-2")[0], 200)

    def test_fault_for_unknown_job_is_refused(self):
        status, _, _ = self.api.request("POST", "/_admin/faults?kind=close&job=nope", key=None)
        self.assertEqual(status, 404)
        status, _, data = self.api.request("POST", "/_admin/faults?kind=delay", key=None)
        self.assertEqual(status, 400)
        self.assertIn("ms", json.loads(data)["detail"])

    def test_truncated(self):
        _, _, normal = self.api.request("GET", "/jobs/job-full")
        self.add_fault("kind=truncated&job=job-full&count=1")
        status, headers, data = self.api.request("GET", "/jobs/job-full")
        self.assertEqual(status, 200)
        self.assertEqual(int(headers["content-length"]), len(data))
        self.assertEqual(data, normal[: len(normal) // 2])
        with self.assertRaises(ValueError):
            json.loads(data)

    def test_reset(self):
        self.add_fault("kind=reset&job=gen-3&count=1")
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            self.api.request("GET", "/jobs/gen-3")
        self.assertEqual(self.api.request("GET", "/jobs/gen-3")[0], 200)

    def test_reset_sends_partial_body(self):
        self.add_fault("kind=reset&job=gen-3&count=1")
        with socket.create_connection(("127.0.0.1", self.api.port), timeout=5) as s:
            s.sendall(f"GET /jobs/gen-3 HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n\r\n".encode())
            received = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    received += chunk
            except ConnectionResetError:
                pass
        if received:  # the kernel may drop queued data on RST; when it does not:
            head, _, body = received.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            self.assertLess(len(body), length)

    def test_close(self):
        self.add_fault("kind=close&job=gen-4&count=1")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.api.request("GET", "/jobs/gen-4")
        self.assertEqual(self.api.request("GET", "/jobs/gen-4")[0], 200)

    def test_hang_until_client_timeout(self):
        self.add_fault("kind=hang&job=gen-5&count=1")
        started = time.monotonic()
        with self.assertRaises((TimeoutError, socket.timeout)):
            self.api.request("GET", "/jobs/gen-5", timeout=0.5)
        self.assertGreaterEqual(time.monotonic() - started, 0.45)
        self.assertEqual(self.api.request("GET", "/jobs/gen-5")[0], 200)

    def test_delay(self):
        self.add_fault("kind=delay&ms=300&job=gen-6&count=1")
        started = time.monotonic()
        status, _, _ = self.api.request("GET", "/jobs/gen-6")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.29)

    def test_trickle(self):
        _, _, normal = self.api.request("GET", "/jobs/gen-7")
        self.add_fault("kind=trickle&every=2ms&job=gen-7&count=1")
        started = time.monotonic()
        status, _, data = self.api.request("GET", "/jobs/gen-7")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(data)["id"], "gen-7")
        self.assertEqual(len(data), len(normal))
        self.assertGreaterEqual(time.monotonic() - started, len(normal) * 0.002 * 0.9)

    def test_body_fault(self):
        self.add_fault("kind=body&body=%7B%22status%22%3A+7%7D&content_type=text%2Fhtml&job=gen-8&count=1")
        status, headers, data = self.api.request("GET", "/jobs/gen-8")
        self.assertEqual((status, data), (200, b'{"status": 7}'))
        self.assertEqual(headers["content-type"], "text/html")
        self.add_fault("kind=body&body=%7B%22status%22%3A%22%FF%FE%22%7D&job=gen-8&count=1")
        self.assertEqual(self.api.request("GET", "/jobs/gen-8")[2], b'{"status":"\xff\xfe"}')

    def test_large(self):
        self.add_fault("kind=large&bytes=100000&job=gen-9&count=1")
        status, _, data = self.api.request("GET", "/jobs/gen-9")
        self.assertEqual(status, 200)
        self.assertEqual(len(data), 100000)
        job = json.loads(data)
        self.assertEqual(job["id"], "gen-9")
        self.assertIn("padding", job)

    def test_faults_are_logged(self):
        self.add_fault("kind=http&code=500&job=gen-10&count=2")
        for _ in range(3):
            self.api.request("GET", "/jobs/gen-10")
        self.assertEqual(self.api.admin("GET", "requests?job=gen-10")["count"], 3)

    # --- admin ---------------------------------------------------------

    def test_admin_sets_status(self):
        job = self.api.admin("POST", "jobs/gen-11?status=COMPLETED")
        self.assertEqual((job["id"], job["status"]), ("gen-11", "COMPLETED"))
        self.assertEqual(self.api.get_json("/jobs/gen-11")[1]["status"], "COMPLETED")
        self.assertEqual(self.api.admin("GET", "jobs")["jobs"]["gen-11"], "COMPLETED")
        self.assertEqual(self.api.get_json("/jobs/gen-11/result")[0], 200)

    def test_admin_creates_job(self):
        job = self.api.admin("POST", "jobs/made-by-admin?status=queued")
        self.assertEqual(job["status"], "queued")
        self.assertEqual(self.api.get_json("/jobs/made-by-admin")[1]["status"], "queued")

    def test_admin_job_statuses(self):
        jobs = self.api.admin("GET", "jobs")["jobs"]
        self.assertEqual(jobs["job-failed"], "FAILED")
        self.assertEqual(jobs["job-alt"], "Completed")
        self.assertIn("gen-0", jobs)

    def test_request_log(self):
        before = time.time()
        for path in ("/jobs/gen-12", "/jobs/gen-12", "/jobs/gen-12/result", "/jobs/ghost-job"):
            self.api.request("GET", path)
        self.api.request("GET", "/jobs/gen-12", key="wrong")
        after = time.time()
        entry = self.api.admin("GET", "requests?job=gen-12")
        self.assertEqual(entry["count"], 4)
        self.assertEqual(len(entry["times"]), 4)
        for t in entry["times"]:
            self.assertGreaterEqual(t, before - 0.002)
            self.assertLessEqual(t, after + 0.002)
        self.assertEqual(entry["times"], sorted(entry["times"]))
        log = self.api.admin("GET", "requests")
        self.assertEqual(log["jobs"]["gen-12"]["count"], 4)
        self.assertEqual(log["jobs"]["ghost-job"]["count"], 1)
        self.assertNotIn("gen-13", log["jobs"], "only jobs that got requests appear")
        self.assertGreaterEqual(log["total"], 5)
        self.assertEqual(self.api.admin("GET", "requests?job=gen-13"),
                         {"count": 0, "result_count": 0, "times": []})

    def test_request_log_reset(self):
        self.api.request("GET", "/jobs/gen-14")
        self.assertEqual(self.api.admin("POST", "reset"), {"ok": True})
        log = self.api.admin("GET", "requests")
        self.assertEqual({k: log[k] for k in ("total", "jobs")}, {"total": 0, "jobs": {}})
        self.assertEqual(log["keys"][KEY]["count"], 0, "per-key counts are reset too")
        self.assertEqual(log["other_keys"], {"count": 0})
        self.api.request("GET", "/jobs/gen-14")
        self.assertEqual(self.api.admin("GET", "requests?job=gen-14")["count"], 1)

    def test_admin_wrong_method(self):
        self.assertEqual(self.api.request("GET", "/_admin/reset", key=None)[0], 405)

    # --- HTTP ----------------------------------------------------------

    def test_keep_alive(self):
        conn = self.api.connection()
        try:
            local = None
            for i in range(5):
                conn.request("GET", f"/jobs/gen-{20 + i}", headers={"X-API-Key": KEY})
                r = conn.getresponse()
                self.assertEqual(r.status, 200)
                self.assertEqual(json.loads(r.read())["id"], f"gen-{20 + i}")
                self.assertIsNone(r.getheader("Connection"))
                if local is None:
                    local = conn.sock.getsockname()
                self.assertEqual(conn.sock.getsockname(), local, "the connection was reused")
        finally:
            conn.close()

    def test_connection_close_honoured(self):
        with socket.create_connection(("127.0.0.1", self.api.port), timeout=5) as s:
            s.sendall(b"GET /_admin/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := s.recv(65536):
                received += chunk
        self.assertTrue(received.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertIn(b"\r\nConnection: close\r\n", received)
        self.assertTrue(received.endswith(b'{"ok":true}'))

    def test_malformed_request_gets_400_and_close(self):
        with socket.create_connection(("127.0.0.1", self.api.port), timeout=5) as s:
            s.sendall(b"NOT A REQUEST\r\n\r\n")
            received = b""
            while chunk := s.recv(65536):
                received += chunk
        self.assertTrue(received.startswith(b"HTTP/1.1 400 "), received)

    def test_request_body_is_discarded(self):
        with socket.create_connection(("127.0.0.1", self.api.port), timeout=5) as s:
            s.sendall(b"POST /_admin/health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                      b"GET /_admin/health HTTP/1.1\r\nHost: x\r\nconnection: CLOSE\r\n\r\n")
            received = b""
            while chunk := s.recv(65536):
                received += chunk
        self.assertEqual(received.count(b"HTTP/1.1 "), 2, received)
        self.assertIn(b"HTTP/1.1 405 ", received)
        self.assertTrue(received.endswith(b'{"ok":true}'))


class ScenarioFaultsTest(unittest.TestCase):
    """Faults written in the scenario file, each on a server of its own."""

    def test_count_limited_job_fault_then_normal(self):
        api = FakeApi("""\
            jobs:
              - id: job-flaky
                status: PROCESSING
                faults:
                  - {kind: http, code: 404, count: 3}
        """)
        try:
            codes = [api.request("GET", "/jobs/job-flaky", key=None)[0] for _ in range(5)]
            self.assertEqual(codes, [404, 404, 404, 200, 200])
            self.assertEqual(api.admin("GET", "requests?job=job-flaky")["count"], 5)
        finally:
            self.assertEqual(api.stop(), 0)

    def test_job_faults_before_global_and_time_windows(self):
        api = FakeApi("""\
            key_header: api-key
            api_key: k
            jobs:
              - {id: a, status: queued, faults: [{kind: http, code: 429, retry_after: "7", count: 1}]}
              - {id: b, status: queued}
            faults:
              - {kind: http, code: 500, from: 1h}
              - {kind: http, code: 503, from: 0s, body: "<html>down</html>", content_type: text/html}
        """)
        try:
            status, headers, _ = api.request("GET", "/jobs/a", headers={"api-key": "k"}, key=None)
            self.assertEqual((status, headers.get("retry-after")), (429, "7"))
            status, headers, data = api.request("GET", "/jobs/a", headers={"api-key": "k"}, key=None)
            self.assertEqual((status, data), (503, b"<html>down</html>"))
            self.assertEqual(headers["content-type"], "text/html")
            api.admin("DELETE", "faults")
            self.assertEqual(api.request("GET", "/jobs/b", headers={"api-key": "k"}, key=None)[0], 200)
            self.assertEqual(api.request("GET", "/jobs/b", key="k")[0], 401, "X-API-Key is not the header")
        finally:
            self.assertEqual(api.stop(), 0)


    def test_raw_body_gives_invalid_utf8(self):
        api = FakeApi("""\
            jobs:
              - id: bad-bytes
                status: queued
                faults:
                  - {kind: body, body: "{\\"pdf_name\\": \\"\\xff\\xfe\\"}", raw: true}
        """)
        try:
            self.assertEqual(api.request("GET", "/jobs/bad-bytes")[2], b'{"pdf_name": "\xff\xfe"}')
        finally:
            self.assertEqual(api.stop(), 0)


RATE_SCENARIO = """\
    api_key: key-a
    api_keys: [key-b, key-c]
    rate_window: 3s
    rate_limits:
      - {key: key-a, per_window: 3}
      - {key: key-b, per_window: 5}
    jobs:
      - {id: job-1, status: COMPLETED}
"""


class RateLimitTest(unittest.TestCase):
    """Per-key sliding-window limits, per-key counts and per-key faults, each
    test on a server of its own (the windows are the server's memory)."""

    def setUp(self):
        self.api = FakeApi(RATE_SCENARIO)
        self.addCleanup(lambda: self.assertEqual(self.api.stop(), 0))

    def get(self, key, path="/jobs/job-1"):
        return self.api.request("GET", path, key=key)

    def test_each_key_has_its_own_limit_and_both_endpoints_count(self):
        codes_a = [self.get("key-a", p)[0] for p in ("/jobs/job-1", "/jobs/job-1/result",
                                                     "/jobs/job-1", "/jobs/job-1")]
        self.assertEqual(codes_a, [200, 200, 200, 429])
        # key-a's limit leaves key-b (5) and key-c (no limit) alone.
        self.assertEqual([self.get("key-b")[0] for _ in range(6)], [200] * 5 + [429])
        self.assertEqual([self.get("key-c")[0] for _ in range(12)], [200] * 12)
        status, headers, data = self.get("key-a")
        self.assertEqual(status, 429)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIn("Rate limit exceeded", json.loads(data)["detail"])
        self.assertNotIn("key-a", data.decode(), "the key is never echoed")
        self.assertEqual(self.get("wrong")[0], 401, "an unknown key is not rate limited: refused")

    def test_retry_after_is_whole_seconds_until_the_oldest_leaves(self):
        start = time.monotonic()
        self.assertEqual(self.get("key-a")[0], 200)
        first_done = time.monotonic()  # the server saw it in [start, first_done]
        for _ in range(2):
            self.assertEqual(self.get("key-a")[0], 200)

        def retry_after_now():
            sent = time.monotonic()
            status, headers, _ = self.get("key-a")
            answered = time.monotonic()
            self.assertEqual(status, 429)
            # The first request leaves the 3 s window 3 s after the server saw it.
            low = max(1, math.ceil(start + 3 - answered))
            high = max(1, math.ceil(first_done + 3 - sent))
            value = int(headers["retry-after"])
            self.assertTrue(low <= value <= high, (low, value, high))
            return value

        retry_after_now()
        wait_until(lambda: time.monotonic() - start >= 1.2, what="1.2 s to pass")
        retry_after_now()
        wait_until(lambda: time.monotonic() - start >= 2.2, what="2.2 s to pass")
        retry_after_now()  # under a second left: 1

    def test_the_window_slides_and_429s_do_not_count(self):
        for _ in range(3):
            self.assertEqual(self.get("key-a")[0], 200)
        first_rejected = time.monotonic()
        self.assertEqual(self.get("key-a")[0], 429)
        # Refused requests while waiting: they must not extend the wait.
        while self.get("key-a")[0] == 429:
            self.assertLess(time.monotonic() - first_rejected, 5.0, "the window never slid")
            time.sleep(0.05)
        waited = time.monotonic() - first_rejected
        self.assertLess(waited, 3.5, "the 429s would have kept the key out if they counted")
        # One admitted just now (and at most the two others left since): the
        # limit binds again within three more requests.
        codes = [self.get("key-a")[0] for _ in range(3)]
        self.assertIn(429, codes)
        self.assertLessEqual(codes.count(200), 2)

    def test_concurrent_requests_never_exceed_the_limit(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(lambda _: self.get("key-b")[0], range(40)))
        self.assertEqual((codes.count(200), codes.count(429)), (5, 35))
        self.assertEqual(self.api.admin("GET", "requests")["keys"]["key-b"]["rejected_429"], 35)

    def test_per_key_counts_never_echo_unknown_keys(self):
        for _ in range(4):
            self.get("key-a")
        self.get("key-c")
        self.get("hostile<script>")
        self.get(None)
        log = self.api.admin("GET", "requests")
        self.assertEqual(set(log["keys"]), {"key-a", "key-b", "key-c"})
        self.assertEqual(log["keys"]["key-a"], {"count": 4, "rejected_429": 1, "per_window": 3})
        self.assertEqual(log["keys"]["key-b"], {"count": 0, "rejected_429": 0, "per_window": 5})
        self.assertEqual(log["keys"]["key-c"], {"count": 1, "rejected_429": 0, "per_window": None})
        self.assertEqual(log["other_keys"], {"count": 2})
        self.assertNotIn("hostile", json.dumps(log))
        self.assertEqual(log["total"], 7)

    def test_admin_changes_a_limit_at_run_time(self):
        self.api.admin("POST", "rate_limit?key=key-c&per_window=2")
        self.assertEqual([self.get("key-c")[0] for _ in range(3)], [200, 200, 429])
        self.api.admin("POST", "rate_limit?key=key-c&per_window=0")
        self.assertEqual(self.get("key-c")[0], 200, "0 removes the limit")
        self.assertEqual(self.api.request("POST", "/_admin/rate_limit?key=key-c&per_window=x",
                                          key=None)[0], 400)
        self.assertEqual(self.api.admin("GET", "requests")["keys"]["key-c"]["per_window"], None)

    def test_a_fault_for_one_key_is_an_outage_of_that_account_only(self):
        self.api.admin("POST", "faults?kind=http&code=503&key=key-b")
        self.assertEqual([self.get("key-b")[0] for _ in range(3)], [503] * 3)
        self.assertEqual(self.get("key-a")[0], 200)
        self.assertEqual(self.get("key-c", "/jobs/job-1/result")[0], 200)
        # The outage's answers count toward key-b's window (not 429s).
        self.api.admin("DELETE", "faults")
        self.assertEqual([self.get("key-b")[0] for _ in range(3)], [200, 200, 429])
        log = self.api.admin("GET", "requests")
        self.assertEqual(log["keys"]["key-b"]["count"], 6)

    def test_a_scenario_fault_by_key(self):
        api = FakeApi("""\
            api_keys: [k1, k2]
            jobs:
              - {id: j, status: queued, faults: [{kind: http, code: 500, key: k2, count: 2}]}
        """)
        try:
            self.assertEqual([api.request("GET", "/jobs/j", key=k)[0] for k in ("k1", "k2", "k2", "k2")],
                             [200, 500, 500, 200])
        finally:
            self.assertEqual(api.stop(), 0)


class ProcessTest(unittest.TestCase):
    """The binary's command line, exit codes and shutdown."""

    def run_fakeapi(self, scenario_text, *args):
        with tempfile.TemporaryDirectory(prefix="fakeapi-test-") as d:
            path = os.path.join(d, "bad.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(textwrap.dedent(scenario_text))
            proc = subprocess.run([BIN, "--scenario", path, *args], capture_output=True,
                                  timeout=20, text=True)
            return proc.returncode, proc.stderr, path

    def test_unknown_key_exits_1_naming_key_and_line(self):
        rc, err, path = self.run_fakeapi("""\
            jobs:
              - id: job-1
                type: extraction
                stauts: queued
        """)
        self.assertEqual(rc, 1, err)
        self.assertIn(f"{path}:4:", err)
        self.assertIn("stauts", err)

    def test_bad_fault_exits_1_naming_line(self):
        rc, err, path = self.run_fakeapi("""\
            jobs:
              - id: job-1
                status: queued
                faults:
                  - {kind: explode}
        """)
        self.assertEqual(rc, 1, err)
        self.assertIn(f"{path}:5:", err)
        self.assertIn("explode", err)

    def test_bad_duration_and_missing_status(self):
        rc, err, path = self.run_fakeapi("""\
            jobs:
              - id: job-1
                timeline:
                  - {at: 5 seconds, status: queued}
        """)
        self.assertEqual(rc, 1, err)
        self.assertIn(f"{path}:4:", err)
        rc, err, path = self.run_fakeapi("jobs:\n  - id: job-1\n    type: extraction\n")
        self.assertEqual(rc, 1, err)
        self.assertIn("status", err)

    def test_invalid_yaml_and_missing_file(self):
        rc, err, path = self.run_fakeapi("jobs: [\n")
        self.assertEqual(rc, 1, err)
        self.assertIn(path, err)
        proc = subprocess.run([BIN, "--scenario", "/nonexistent/scenario.yaml"],
                              capture_output=True, text=True, timeout=20)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("/nonexistent/scenario.yaml", proc.stderr)

    def test_usage_errors_exit_2(self):
        self.assertEqual(subprocess.run([BIN], capture_output=True, timeout=20).returncode, 2)
        self.assertEqual(subprocess.run([BIN, "--scenario", "x", "--bogus", "1"],
                                        capture_output=True, timeout=20).returncode, 2)
        self.assertEqual(subprocess.run([BIN, "--scenario"], capture_output=True,
                                        timeout=20).returncode, 2)

    def test_sigterm_exits_0_promptly_despite_hanging_connection(self):
        api = FakeApi("""\
            jobs:
              - {id: stuck, status: queued, faults: [{kind: hang}]}
              - {id: slow, status: queued, faults: [{kind: delay, ms: 60000}]}
        """)
        sockets = []
        try:
            for job in ("stuck", "slow"):
                s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
                s.sendall(f"GET /jobs/{job} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                sockets.append(s)
            wait_until(lambda: api.admin("GET", "requests")["total"] == 2,
                       what="both requests to arrive")
            started = time.monotonic()
            self.assertEqual(api.stop(), 0)
            self.assertLess(time.monotonic() - started, 3.0)
        finally:
            for s in sockets:
                s.close()

    def test_bad_rate_limits_exit_1_naming_line(self):
        for text, line, word in (
                ("rate_limits:\n  - {key: k, per_window: 0}\njobs: []\n", 2, "per_window"),
                ("rate_limits:\n  - {key: k}\njobs: []\n", 2, "per_window"),
                ("rate_limits:\n  - {key: k, per_window: 1}\n  - {key: k, per_window: 2}\n", 3,
                 "same key"),
                ("rate_window: soon\njobs: []\n", 1, "duration"),
                ("api_keys: [a, '']\n", 1, "api_keys")):
            rc, err, path = self.run_fakeapi(text)
            self.assertEqual(rc, 1, err)
            self.assertIn(f"{path}:{line}:", err)
            self.assertIn(word, err)

    def test_demo_scenario_loads(self):
        demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios", "demo.yaml")
        with open(demo, encoding="utf-8") as f:
            api = FakeApi(f.read())
        try:
            jobs = api.admin("GET", "jobs")["jobs"]
            self.assertEqual(len(jobs), 6)
        finally:
            self.assertEqual(api.stop(), 0)


if __name__ == "__main__":
    if not BIN or not os.access(BIN, os.X_OK):
        print("FAKEAPI_BIN must name the built fakeapi binary", file=sys.stderr)
        sys.exit(2)
    unittest.main(verbosity=2)
