# SPDX-License-Identifier: Apache-2.0
"""Fault matrix: the real jobwatchd against the fake API acting out every
kind of API failure (issue: Reliability).

For each fault: the daemon stays up, no job changes status while the fault
lasts, no hook runs, jobwatch_polls_total counts the right result label,
requests back off, and once the fault clears every job reaches its true final
status with its hook run exactly once.

Per-job faults run side by side in one daemon (one job per fault). Faults
that pause everyone (429/503 with Retry-After) and connection refused each
get their own phase in a second daemon.

Requests during a fault are read from the fake API's request log, in the
window between adding the fault and clearing it. Each poll's result label is
read from the daemon's trace log (`"msg":"poll"` lines), and the totals are
checked against /metrics once nothing polls any more.
"""
import email.utils
import json
import math
import os
import socket
import subprocess
import sys
import textwrap
import time
import unittest
import urllib.parse

from harness import FAKEAPI, DaemonTestCase, FakeApi, wait_for

# Records each run: one journal line "<event id> <attempt>", stdin kept.
HOOK = """#!/bin/sh
echo "$JOBWATCH_EVENT_ID $JOBWATCH_ATTEMPT" >> "$1/journal"
cat > "$1/stdin.$JOBWATCH_EVENT_ID.$JOBWATCH_ATTEMPT"
"""

# The daemon's settings for every fault test: polls every 200 ms, backs off
# to at most 2 s, gives a request 2 s. Against a healthy API a job is polled
# ~30 times in a 6 s window; backing off (delays drawn from [1 s, 2 s]) it
# is polled at most 1 + 6/1 = 7 times.
INTERVAL_S = 0.2
BACKOFF_MAX_S = 2.0
REQUEST_TIMEOUT_S = 2.0
PER_JOB_WINDOW_S = 6.0
NOT_FOUND_AFTER = 10
BACKED_OFF = 8  # bound on requests per job in the per-job window
HEALTHY = PER_JOB_WINDOW_S / INTERVAL_S  # what no backoff would cost

NESTED_DEPTH = 5000


def q(params):
    """Query string; values may be bytes (raw body bytes, e.g. invalid UTF-8)."""
    return "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in params.items())


def redirect_target():
    """A listener on another loopback address that never accepts: any
    connection attempt would sit in its backlog, where accept() finds it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.2", 0))
    s.listen(16)
    s.setblocking(False)
    return s


def connections_received(listener):
    n = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


class FixedPortFakeApi(FakeApi):
    """The fake API on a given port (to bring it back after a 'refused' phase)."""

    def __init__(self, workdir, scenario_yaml, port):
        os.makedirs(workdir, exist_ok=True)
        self.workdir = workdir
        path = os.path.join(workdir, "scenario.yaml")
        with open(path, "w") as f:
            f.write("timeline_start: first_request\n" + textwrap.dedent(scenario_yaml))
        port_file = os.path.join(workdir, "fakeapi.port")
        self.log = open(os.path.join(workdir, "fakeapi.log"), "w")
        self.proc = subprocess.Popen(
            [FAKEAPI, "--scenario", path, "--listen", f"127.0.0.1:{port}", "--port-file",
             port_file], stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file) or self.proc.poll() is not None,
                 what="fakeapi port file")
        if self.proc.poll() is not None:
            raise AssertionError(f"fakeapi could not come back on port {port}: " +
                                 open(self.log.name).read())
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"


class FaultTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(self.hookdir)
        self.hook = self.write("hook.sh", HOOK)
        os.chmod(self.hook, 0o755)

    def config(self, jobs, on="[completed, failed, not_found]"):
        return self.write_config(
            jobs,
            api={"request_timeout": f"{REQUEST_TIMEOUT_S:g}s", "connect_timeout": "1s"},
            poll={"interval": f"{int(INTERVAL_S * 1000)}ms", "jitter": "0",
                  "backoff_max": f"{BACKOFF_MAX_S:g}s", "not_found_after": str(NOT_FOUND_AFTER)},
            log_level="trace", log_format="json",
            extra=f"""\
                hooks:
                  definitions:
                    - name: record
                      on: {on}
                      command: ["{self.hook}", "{self.hookdir}"]
                      timeout: 10s
                """)

    def start_json_daemon(self, config):
        """A daemon logging JSON; harness.Daemon.metrics_url() reads the text form."""
        d = self.start_daemon(config)
        url = json.loads(d.wait_log('"metrics served"')[0])["url"]
        d.metrics_url = lambda: url
        return d

    # -- what the daemon said -------------------------------------------------

    def log_offset(self, d):
        return os.path.getsize(d.log_path)

    def records(self, d, start=0, end=None):
        """JSON log records written between two byte offsets (whole lines)."""
        with open(d.log_path, "rb") as f:
            data = f.read()
        data = data[:end] if end is not None else data
        if start > 0 and data[start - 1:start] != b"\n":
            nl = data.find(b"\n", start)
            start = len(data) if nl < 0 else nl + 1
        out = []
        for line in data[start:].split(b"\n"):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line still being written at `end`
        return out

    def polls(self, records, job):
        return [r["result"] for r in records if r.get("msg") == "poll" and r.get("job_id") == job]

    def changes(self, records, job):
        return [r for r in records
                if r.get("msg") in ("status change", "job seen") and r.get("job_id") == job]

    def final_status(self, d, job):
        seen = self.changes(self.records(d), job)
        return seen[-1]["to"] if seen else "unknown"

    def journal(self):
        path = os.path.join(self.hookdir, "journal")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f if line.strip()]

    def hook_runs(self, job, status="completed"):
        return sum(1 for event, _ in self.journal() if event == f"{job}:{status}")

    # -- what the fake API saw -----------------------------------------------

    def requests_between(self, fake, job, t0, t1):
        return [t for t in fake.requests_for(job)["times"] if t0 <= t <= t1]

    def set_status(self, fake, job, status):
        fake.admin("POST", f"/_admin/jobs/{job}?status={status}")

    def add_fault(self, fake, params, job=None):
        query = q(dict(params, **({"job": job} if job else {})))
        fake.admin("POST", "/_admin/faults?" + query)

    def print_table(self, title, rows, per_job=True):
        header = ("fault", "result label", "polls / requests during fault" if per_job else
                  "requests during fault", "final status", "hook runs")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths))
        print(f"\n{title}", file=sys.stderr)
        print(line(header), file=sys.stderr)
        print(line(["-" * w for w in widths]), file=sys.stderr)
        for r in rows:
            print(line(r), file=sys.stderr)

    def assert_metrics_match_trace(self, d):
        """With nothing polling any more, /metrics counts every poll the trace
        log shows, under the same result label."""
        counted = {}
        for r in self.records(d):
            if r.get("msg") == "poll":
                counted[r["result"]] = counted.get(r["result"], 0) + 1
        for label, n in counted.items():
            self.assertEqual(d.metric(f'jobwatch_polls_total{{account="default",result="{label}"}}'), n, label)
        return counted


# One job per fault. `params` go to POST /_admin/faults; `label` is what
# jobwatch_polls_total must count; `limit` bounds requests in the window.
PER_JOB_FAULTS = [
    ("http 500", "f-http500", {"kind": "http", "code": "500"}, "http_error", BACKED_OFF),
    ("http 502", "f-http502", {"kind": "http", "code": "502"}, "http_error", BACKED_OFF),
    ("http 503 (no Retry-After)", "f-http503", {"kind": "http", "code": "503"}, "http_error",
     BACKED_OFF),
    # 401/403: polling slows to backoff_max (2 s): at most 1 + 6/2 = 4.
    ("http 401", "f-http401", {"kind": "http", "code": "401"}, "auth_error", 5),
    ("http 403", "f-http403", {"kind": "http", "code": "403"}, "auth_error", 5),
    # Each attempt holds 2 s (request_timeout), then backs off >= 1 s.
    ("hang (accepts, never answers)", "f-hang", {"kind": "hang"}, "timeout", 4),
    ("trickle 1 byte/s", "f-trickle", {"kind": "trickle", "every": "1s"}, "timeout", 4),
    ("reset mid-body", "f-reset", {"kind": "reset"}, "network_error", BACKED_OFF),
    # libcurl retries once on a fresh connection when a reused connection
    # closes without a byte of answer ("Connection died, retrying a fresh
    # connect"): one poll, two requests. Polls are bounded like the rest.
    ("close without answer", "f-close", {"kind": "close"}, "network_error", 2 * BACKED_OFF),
    ("truncated JSON", "f-truncated", {"kind": "truncated"}, "parse_error", BACKED_OFF),
    ("HTML instead of JSON", "f-html",
     {"kind": "body", "content_type": "text/html",
      "body": "<html><body><h1>502 Bad Gateway</h1>COMPLETED</body></html>"},
     "parse_error", BACKED_OFF),
    ('"status": 7', "f-status-num", {"kind": "body", "body": '{"id":"f-status-num","status":7}'},
     "parse_error", BACKED_OFF),
    ('"id": 7', "f-id-num", {"kind": "body", "body": '{"id":7,"status":"COMPLETED"}'},
     "parse_error", BACKED_OFF),
    ("10 MiB body", "f-large", {"kind": "large", "bytes": str(10 << 20)}, "network_error",
     BACKED_OFF),
    ("invalid UTF-8", "f-utf8",
     {"kind": "body", "body": b'{"id":"f-utf8","status":"COMPLETED","pdf_name":"\xff\xfe.pdf"}'},
     "parse_error", BACKED_OFF),
    (f"JSON nested {NESTED_DEPTH} deep", "f-nested",
     {"kind": "body",
      "body": '{"id":"f-nested","status":"COMPLETED","x":' + "[" * NESTED_DEPTH +
              "]" * NESTED_DEPTH + "}"},
     "parse_error", BACKED_OFF),
    # The 302 is not followed: counted as http_error, the other host hears nothing.
    ("302 to another host", "f-redirect", None, "http_error", BACKED_OFF),
]


class PerJobFaultTest(FaultTestCase):
    def test_per_job_faults_in_parallel(self):
        special = ["f-dupkeys", "f-idnull", "f-http404", "f-control"]
        jobs = [job for _, job, _, _, _ in PER_JOB_FAULTS] + special
        fake = self.start_fake("jobs:\n" + "".join(
            f"  - {{id: {j}, type: extraction, status: PROCESSING}}\n" for j in jobs))
        elsewhere = redirect_target()
        self.addCleanup(elsewhere.close)
        redirect = {"kind": "http", "code": "302",
                    "location": f"http://127.0.0.2:{elsewhere.getsockname()[1]}/jobs/f-redirect"}

        d = self.start_json_daemon(self.config(jobs))
        wait_for(lambda: d.metric('jobwatch_jobs{status="processing"}') == len(jobs),
                 timeout=15, what="every job seen as processing")

        # Faults first, then the true status moves on to COMPLETED: whatever
        # the daemon learns during the fault, it must not be that.
        start_offset = self.log_offset(d)
        started = {}
        for _, job, params, _, _ in PER_JOB_FAULTS:
            self.add_fault(fake, params or redirect, job)
            started[job] = time.time()
        # Duplicate keys: the last one wins (documented in api/job_snapshot.h),
        # so this reads as "still PROCESSING": no change, and an ok poll.
        self.add_fault(fake, {"kind": "body", "body":
                              '{"id":"f-dupkeys","status":"COMPLETED","status":"PROCESSING"}'},
                       "f-dupkeys")
        # A null id reads as absent (job_snapshot.h: any field may be null),
        # so this body is accepted by design: the job completes normally.
        self.add_fault(fake, {"kind": "body", "body": '{"id":null,"status":"COMPLETED"}'},
                       "f-idnull")
        # 404 for a while, but fewer times in a row than not_found_after: the
        # count resets with the next good answer; the job is not not_found.
        self.add_fault(fake, {"kind": "http", "code": "404", "count": str(NOT_FOUND_AFTER - 2)},
                       "f-http404")
        for s in special:
            started.setdefault(s, time.time())
        for job in jobs:
            self.set_status(fake, job, "COMPLETED")

        time.sleep(PER_JOB_WINDOW_S)  # the measured fault window
        window_end = time.time()
        end_offset = self.log_offset(d)
        journal_during = self.journal()
        alive_during = d.alive()
        fake.admin("DELETE", "/_admin/faults")

        wait_for(lambda: all(self.hook_runs(j) >= 1 for j in jobs), timeout=30,
                 what="every job to complete and run its hook")
        wait_for(lambda: d.metric('jobwatch_jobs{status="completed"}') == len(jobs),
                 what="every job completed in /metrics")
        during = self.records(d, start_offset, end_offset)
        counted = self.assert_metrics_match_trace(d)
        hook_successes = d.metric('jobwatch_hook_runs_total{hook="record",result="success"}')
        self.assertEqual(d.stop(), 0)

        rows, problems = [], []
        for name, job, _, label, limit in PER_JOB_FAULTS:
            results = self.polls(during, job)
            n = len(self.requests_between(fake, job, started[job], window_end))
            rows.append((name, label, f"{len(results)} / {n}", self.final_status(d, job),
                         self.hook_runs(job)))
            if len(results) > BACKED_OFF:
                problems.append(f"{job}: {len(results)} polls in {PER_JOB_WINDOW_S}s, "
                                f"want <= {BACKED_OFF}")
            # A poll already in flight when the fault was added may answer ok
            # (still PROCESSING) once; every other poll shows the fault.
            faulty = [r for r in results if r != "ok"]
            if not faulty or set(faulty) != {label} or len(results) - len(faulty) > 1:
                problems.append(f"{job}: polls during the fault were {results}, want {label}")
            if n > limit:
                problems.append(f"{job}: {n} requests in {PER_JOB_WINDOW_S}s, want <= {limit} "
                                f"(healthy polling would be {HEALTHY:.0f})")
            if self.changes(during, job):
                problems.append(f"{job}: status changed during the fault: "
                                f"{self.changes(during, job)}")
            if any(event.startswith(job + ":") for event, _ in journal_during):
                problems.append(f"{job}: a hook ran during the fault")

        def counts(job):
            n = len(self.requests_between(fake, job, started[job], window_end))
            return f"{len(self.polls(during, job))} / {n}"

        dup = self.polls(during, "f-dupkeys")
        rows.append(("duplicate keys (last wins)", "ok",
                     counts("f-dupkeys"),
                     self.final_status(d, "f-dupkeys"), self.hook_runs("f-dupkeys")))
        if set(dup) != {"ok"} or self.changes(during, "f-dupkeys"):
            problems.append(f"f-dupkeys: want ok polls and no change, got {dup}")

        # Accepted by design: completes during the "fault", hook once.
        idnull = [r["to"] for r in self.changes(during, "f-idnull")]
        rows.append(('"id": null (accepted by design)', "ok",
                     counts("f-idnull"),
                     self.final_status(d, "f-idnull"), self.hook_runs("f-idnull")))
        if idnull != ["completed"]:
            problems.append(f"f-idnull: want one change to completed in the window, got {idnull}")

        # 404 x8, then the true status: never not_found.
        nf = self.polls(during, "f-http404")
        rows.append((f"404 x{NOT_FOUND_AFTER - 2} (< not_found_after {NOT_FOUND_AFTER})",
                     "not_found",
                     counts("f-http404"),
                     self.final_status(d, "f-http404"), self.hook_runs("f-http404")))
        want_nf = ["not_found"] * (NOT_FOUND_AFTER - 2) + ["ok"]
        if nf not in (want_nf, ["ok"] + want_nf):
            problems.append(f"f-http404: polls {nf}, want {NOT_FOUND_AFTER - 2} not_found then ok")
        if [r["to"] for r in self.changes(during, "f-http404")] != ["completed"]:
            problems.append("f-http404: want exactly processing -> completed, never not_found")

        rows.append(("(control: no fault)", "ok",
                     counts("f-control"),
                     self.final_status(d, "f-control"), self.hook_runs("f-control")))
        self.print_table("per-job faults (one daemon, one job each)", rows)
        print(f"poll results counted in /metrics: {counted}", file=sys.stderr)

        self.assertTrue(alive_during, "the daemon stayed up during the faults")
        self.assertEqual(problems, [])
        for job in jobs:
            self.assertEqual(self.final_status(d, job), "completed", job)
            self.assertEqual(self.hook_runs(job), 1, f"{job}: hook runs exactly once")
            self.assertEqual(self.hook_runs(job, "not_found"), 0, job)
        self.assertEqual(hook_successes, len(jobs))
        self.assertEqual(connections_received(elsewhere), 0, "the redirect was not followed")
        self.assertNotIn("127.0.0.2", "".join(
            r.get("detail", "") for r in self.records(d) if r.get("msg") == "poll failed"))
        self.assertTrue(any(r.get("level") == "error" and "API rejected the key" in r.get("msg", "")
                            for r in self.records(d)), "401/403 are reported loudly")


class GlobalFaultTest(FaultTestCase):
    """Faults that hold every job: 429 and 503 with Retry-After (seconds, and
    an HTTP date) pause all polling; connection refused backs every job off."""

    JOBS = ["g-429", "g-503s", "g-503d", "g-refused", "g-by1", "g-by2"]

    def scenario(self, completed=()):
        return "jobs:\n" + "".join(
            f"  - {{id: {j}, status: {'COMPLETED' if j in completed else 'PROCESSING'}}}\n"
            for j in self.JOBS)

    def check_window(self, d, fake, name, job, label, t0, t1, off0, off1, limit, rows, problems,
                     requests=None, journal=None):
        """`journal`: the hook journal as it was when the fault ended (default:
        read now — only right while the fault still holds)."""
        during = self.records(d, off0, off1)
        total, most, busy = 0, 0, 0
        for j in self.JOBS:
            results = self.polls(during, j)
            faulty = [r for r in results if r != "ok"]
            if len(results) - len(faulty) > 1 or (faulty and set(faulty) != {label}):
                problems.append(f"{name}: {j} polls during the fault were {results}, want {label}")
            n = len(requests[j]) if requests else len(results)
            total, most, busy = total + n, max(most, n), busy + (n > 0)
            if n > limit:
                problems.append(f"{name}: {j} made {n} requests in {t1 - t0:.1f}s, want <= {limit}")
            if self.changes(during, j):
                problems.append(f"{name}: {j} changed status during the fault")
        if not any(r.get("result") == label for r in during if r.get("msg") == "poll"):
            problems.append(f"{name}: no poll counted as {label}")
        if any(e.startswith(job + ":") for e, _ in (self.journal() if journal is None else journal)):
            problems.append(f"{name}: hook for {job} ran during the fault")
        return f"{total} over {busy} jobs, <= {most}/job"

    def assert_all_paused(self, times, min_gap, problems, name):
        """Every gap between requests (any job) is either inside one burst
        (the jobs due together when a pause ends) or a full pause."""
        times = sorted(times)
        for a, b in zip(times, times[1:]):
            if 0.3 < b - a < min_gap:
                problems.append(f"{name}: requests {b - a:.2f}s apart, inside a pause "
                                f"(want < 0.3s or >= {min_gap}s)")

    def all_requests_between(self, fake, t0, t1):
        return {j: self.requests_between(fake, j, t0, t1) for j in self.JOBS}

    def test_global_faults_pause_or_back_off_everyone(self):
        fake = self.start_fake(self.scenario())
        d = self.start_json_daemon(self.config(self.JOBS, on="[completed]"))
        wait_for(lambda: d.metric('jobwatch_jobs{status="processing"}') == len(self.JOBS),
                 timeout=15, what="every job seen")
        rows, problems = [], []

        def retry_after_phase(job, code, retry_after, window=None, until=None):
            off0, t0 = self.log_offset(d), time.time()
            self.add_fault(fake, {"kind": "http", "code": str(code), "retry_after": retry_after})
            self.set_status(fake, job, "COMPLETED")
            time.sleep(window if until is None else max(0.0, until - time.time()))
            t1, off1 = time.time(), self.log_offset(d)
            reqs = self.all_requests_between(fake, t0, t1)
            fake.admin("DELETE", "/_admin/faults")
            return t0, t1, off0, off1, reqs

        # 429 and 503 with Retry-After: 2 (seconds).
        for name, job, code in (("429 Retry-After: 2", "g-429", 429),
                                ("503 Retry-After: 2", "g-503s", 503)):
            window = 4.5
            t0, t1, off0, off1, reqs = retry_after_phase(job, code, "2", window)
            limit = 1 + math.ceil(window / 2)
            total = self.check_window(d, fake, name, job, "rate_limited", t0, t1, off0, off1,
                                         limit, rows, problems, reqs)
            self.assert_all_paused([t for ts in reqs.values() for t in ts], 1.9, problems, name)
            wait_for(lambda: self.hook_runs(job) == 1, timeout=15, what=f"{job} to complete")
            rows.append((name, "rate_limited", total, self.final_status(d, job),
                         self.hook_runs(job)))

        # 503 with Retry-After as an HTTP date ~5 s ahead: one burst, then
        # silence until the date. Cleared just before it passes (after it,
        # the same header would be in the past and mean "no Retry-After").
        name, job = "503 Retry-After: <HTTP date>", "g-503d"
        until = int(time.time() + 5)
        t0, t1, off0, off1, reqs = retry_after_phase(
            job, 503, email.utils.formatdate(until, usegmt=True), until=until - 0.3)
        total = self.check_window(d, fake, name, job, "rate_limited", t0, t1, off0, off1, 2,
                                     rows, problems, reqs)
        times = sorted(t for ts in reqs.values() for t in ts)
        first_503 = times[0] if times else t0
        late = [t - first_503 for t in times if t > first_503 + 0.3]
        if late:
            problems.append(f"{name}: requests {late} s after the first 503, during the pause")
        wait_for(lambda: self.hook_runs(job) == 1, timeout=15, what=f"{job} to complete")
        rows.append((name, "rate_limited", total, self.final_status(d, job), self.hook_runs(job)))

        # Connection refused: the fake API goes away and comes back on the same port.
        name, job = "connection refused", "g-refused"
        port = fake.port
        off0, t0 = self.log_offset(d), time.time()
        fake.stop()
        window = 5.0
        time.sleep(window)
        api_up_during = d.metric('jobwatch_api_up{account="default"}')
        t1, off1 = time.time(), self.log_offset(d)
        alive_during = d.alive()
        journal_during = self.journal()  # before the API is back and g-refused may complete
        # Back with the jobs' true statuses: g-refused has completed meanwhile.
        fake = self.fake = FixedPortFakeApi(
            os.path.join(self.dir, "fake2"),
            self.scenario(completed=("g-429", "g-503s", "g-503d", "g-refused")), port)
        total = self.check_window(d, fake, name, job, "network_error", t0, t1, off0, off1,
                                  1 + math.ceil(window / 1.0), rows, problems,
                                  journal=journal_during)
        wait_for(lambda: self.hook_runs(job) == 1, timeout=15, what=f"{job} to complete")
        wait_for(lambda: d.metric('jobwatch_api_up{account="default"}') == 1, what="api_up back to 1")
        rows.append((name, "network_error", f"{total} (polls: the API was down)",
                     self.final_status(d, job), self.hook_runs(job)))

        # The bystanders never changed; now they finish too, then nothing polls.
        for j in ("g-by1", "g-by2"):
            self.assertEqual(self.final_status(d, j), "processing")
            self.set_status(fake, j, "COMPLETED")
        wait_for(lambda: all(self.hook_runs(j) == 1 for j in self.JOBS), timeout=15,
                 what="all hooks")
        wait_for(lambda: d.metric('jobwatch_jobs{status="completed"}') == len(self.JOBS),
                 what="all completed")
        counted = self.assert_metrics_match_trace(d)
        self.assertEqual(d.stop(), 0)

        self.print_table("global faults (one phase each)", rows, per_job=False)
        print(f"poll results counted in /metrics: {counted}", file=sys.stderr)
        self.assertEqual(problems, [])
        self.assertTrue(alive_during)
        self.assertEqual(api_up_during, 0, "jobwatch_api_up is 0 while the API is unreachable")
        for j in self.JOBS:
            self.assertEqual(self.hook_runs(j), 1, j)
            self.assertEqual(self.final_status(d, j), "completed", j)


if __name__ == "__main__":
    unittest.main(verbosity=2)
