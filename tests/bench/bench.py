#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""jobwatchd benchmark: every figure of tests/bench/README.md in one run, on
loopback, side by side, printed as one table against its target.

Started by run-bench.sh (which builds the Release binaries first); run
directly with --build-dir to skip the build. Every process it starts runs in
its own session and is stopped (SIGTERM, then SIGKILL) on every exit path,
including Ctrl-C and the global time limit.
"""
import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

import results_rss

HERE = os.path.dirname(os.path.abspath(__file__))
# The results RSS figure (results_rss.py): defaults sized for the run's time
# limit; the documented full run is 100 x 50 MiB.
RESULT_JOBS = 100
RESULT_MIB = 50
# Job IDs as long as the API's UUIDs (36 characters): memory per job depends
# on it (short IDs would fit std::string's inline buffer).
PREFIX = "b2094b38-e432-44b6-a5d0-67bed0"  # 30 characters + a number
KEY = "bench-key"
# Every field of the API's example body filled, as real jobs have them.
PDF_HASH = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
CREATED_AT = "2026-11-23T07:40:00.000Z"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------
# processes


class Procs:
    """Every process the bench started; stop_all() ends each one by PID."""

    def __init__(self):
        self.live = []

    def start(self, argv, log_path, env=None, cwd=None):
        log = open(log_path, "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=cwd, start_new_session=True)
        p.log_file = log
        p.log_path = log_path
        self.live.append(p)
        return p

    def stop(self, p, timeout=30):
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
            except ProcessLookupError:
                pass
        p.log_file.close()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(self.live):
            try:
                self.stop(p, timeout=10)
            except Exception as e:  # keep stopping the others
                print(f"bench: could not stop pid {p.pid}: {e}", file=sys.stderr)


PROCS = Procs()


def wait_for(predicate, timeout, what, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def timed_scrape(port):
    """(seconds, body bytes) of one GET /metrics, from sending the request
    to the last byte, over a raw socket (no client-side parsing cost)."""
    buf = bytearray(64 << 20)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        t0 = time.monotonic()
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        n = 0
        while True:
            got = c.recv_into(view[n:])
            if got == 0:
                break
            n += got
        seconds = time.monotonic() - t0
    head, _, body = bytes(buf[:n]).partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("scrape failed: " + head[:200].decode(errors="replace"))
    return seconds, body


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


# --------------------------------------------------------------------------
# servers


class FakeApi:
    def __init__(self, bench, name, count):
        self.dir = os.path.join(bench.work, name)
        os.makedirs(self.dir)
        scenario = os.path.join(self.dir, "scenario.yaml")
        with open(scenario, "w") as f:
            f.write("generate:\n"
                    f"  - {{prefix: {PREFIX}, count: {count}, status: PROCESSING, "
                    "type: extraction, pdf_name: financial_report.pdf, "
                    f"pdf_hash: \"{PDF_HASH}\", created_at: \"{CREATED_AT}\", "
                    "user_id: user_123}\n")
        port_file = os.path.join(self.dir, "port")
        self.proc = PROCS.start([bench.fakeapi, "--scenario", scenario, "--listen", "127.0.0.1:0",
                                 "--port-file", port_file], os.path.join(self.dir, "fakeapi.log"))
        wait_for(lambda: os.path.exists(port_file) or self.proc.poll() is not None, 30,
                 "the fake API to listen")
        if self.proc.poll() is not None:
            raise RuntimeError("fakeapi exited: " + open(self.proc.log_path).read()[-2000:])
        with open(port_file) as f:
            self.port = int(f.read())
        self.base_url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        PROCS.stop(self.proc)


class Nginx:
    """nginx-light serving one static JSON file per job: a server that costs
    far less CPU per request than the thread-per-connection fake API."""

    def __init__(self, bench, count):
        self.dir = os.path.join(bench.work, "nginx")
        root = os.path.join(self.dir, "root", "jobs")
        os.makedirs(root)
        os.makedirs(os.path.join(self.dir, "logs"))
        for i in range(count):
            job_id = f"{PREFIX}{i}"
            with open(os.path.join(root, job_id), "w") as f:
                f.write(json.dumps({
                    "id": job_id, "status": "PROCESSING", "type": "extraction",
                    "created_at": CREATED_AT, "updated_at": CREATED_AT,
                    "pdf_name": "financial_report.pdf", "pdf_hash": PDF_HASH,
                    "user_id": "user_123", "error": None}))
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(textwrap.dedent(f"""\
                user root;
                worker_processes 1;
                daemon off;
                pid {self.dir}/nginx.pid;
                error_log {self.dir}/logs/error.log warn;
                events {{ worker_connections 1024; }}
                http {{
                  access_log off;
                  default_type application/json;
                  keepalive_requests 100000000;
                  keepalive_timeout 120s;
                  open_file_cache max=20000 inactive=60s;
                  client_body_temp_path {self.dir}/tmp;
                  proxy_temp_path {self.dir}/tmp;
                  fastcgi_temp_path {self.dir}/tmp;
                  uwsgi_temp_path {self.dir}/tmp;
                  scgi_temp_path {self.dir}/tmp;
                  server {{
                    listen 127.0.0.1:{self.port};
                    root {self.dir}/root;
                  }}
                }}
                """))
        self.proc = PROCS.start([bench.nginx, "-p", self.dir, "-c", conf],
                                os.path.join(self.dir, "nginx.out"))
        self.base_url = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: self._answers() or self.proc.poll() is not None, 15, "nginx to answer")
        if self.proc.poll() is not None:
            raise RuntimeError("nginx exited: " + open(self.proc.log_path).read()[-2000:])

    def _answers(self):
        try:
            return b"PROCESSING" in http_get(f"{self.base_url}/jobs/{PREFIX}0", timeout=1)
        except OSError:
            return False

    def stop(self):
        PROCS.stop(self.proc)  # SIGTERM: fast shutdown of master and worker


def wrk(bench, base_url, count, seconds):
    env = dict(os.environ, BENCH_PREFIX=PREFIX, BENCH_COUNT=str(count), BENCH_KEY=KEY)
    out = subprocess.run([bench.wrk, f"-t{bench.wrk_threads}", "-c32", f"-d{seconds}s",
                          "-s", os.path.join(HERE, "cycle.lua"), base_url],
                         env=env, capture_output=True, text=True, timeout=seconds + 30)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    if not m:
        raise RuntimeError("wrk printed no Requests/sec:\n" + out.stdout + out.stderr)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if errors:
        raise RuntimeError("wrk got errors:\n" + out.stdout)
    return float(m.group(1))


# --------------------------------------------------------------------------
# jobwatchd


class Daemon:
    def __init__(self, bench, name, base_url, count, interval, jitter="0", hooks="",
                 watch_file=True, state_dir=None, extra_env=None, connections=32, shard=None,
                 threads=1):
        self.dir = state_dir or os.path.join(bench.work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        if watch_file and not os.path.exists(os.path.join(self.dir, "jobs.yaml")):
            with open(os.path.join(self.dir, "jobs.yaml"), "w") as f:
                f.write("jobs:\n" if count else "jobs: []\n")
                f.writelines(f"  - {PREFIX}{i}\n" for i in range(count))
        self.config = os.path.join(self.dir, "jobwatchd.yaml")
        with open(self.config, "w") as f:
            f.write(textwrap.dedent(f"""\
                api:
                  base_url: {base_url}
                  allow_insecure_http: true
                  rate_limit: 0
                  max_concurrent_requests: {connections}
                  request_timeout: 10s
                  threads: {threads}
                poll:
                  interval: {interval}
                  jitter: {jitter}
                  backoff_max: 5m
                state:
                  path: state.db
                metrics:
                  listen: 127.0.0.1:{self.metrics_port}
                  per_job_series: true
                  per_job_limit: 100000
                logging:
                  level: info
                """))
            if watch_file:
                f.write("watch:\n  file: jobs.yaml\n")
            if shard:
                f.write(f"shard:\n  index: {shard[0]}\n  count: {shard[1]}\n")
            f.write(hooks)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "UNSILOED_API_KEY": KEY}
        env.update(extra_env or {})
        self.started = time.monotonic()
        self.proc = PROCS.start([bench.jobwatchd, "--config", self.config],
                                os.path.join(self.dir, f"jobwatchd-{int(time.time() * 1000)}.log"),
                                env=env, cwd=self.dir)
        self.pid = self.proc.pid

    def scrape_once(self):
        try:
            return http_get(self.url, timeout=30).decode()
        except OSError:
            return None

    def wait_ready(self, timeout=60):
        """Seconds from spawn until /metrics answers (its status line
        arrives; the rest of the body is read after the clock stops)."""
        answered = []

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("jobwatchd exited:\n" + open(self.proc.log_path).read()[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=30) as c:
                    c.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              b"Connection: close\r\n\r\n")
                    head = c.recv(64)
                    if not head.startswith(b"HTTP/1.1 200"):
                        return False
                    answered.append(time.monotonic())
                    while c.recv(1 << 20):
                        pass
                    return True
            except OSError:
                return False
        wait_for(ready, timeout, "jobwatchd /metrics", interval=0.002)
        return answered[0] - self.started

    def metric_sum(self, text, name, label_filter=""):
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {") and label_filter in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def polls(self, result=None):
        text = self.scrape_once()
        if text is None:
            raise RuntimeError("scrape failed")
        flt = f'result="{result}"' if result else ""
        return self.metric_sum(text, "jobwatch_polls_total", flt)

    def poll_counts(self):
        """(ok polls, all polls) from one scrape."""
        text = self.scrape_once()
        if text is None:
            raise RuntimeError("scrape failed")
        return (self.metric_sum(text, "jobwatch_polls_total", 'result="ok"'),
                self.metric_sum(text, "jobwatch_polls_total"))

    def wait_polls(self, at_least, timeout):
        wait_for(lambda: self.polls() >= at_least, timeout, f"{at_least} polls", interval=0.5)

    def stop(self):
        return PROCS.stop(self.proc)


# --------------------------------------------------------------------------
# the figures


class Bench:
    def __init__(self, args):
        self.args = args
        args.build_dir = os.path.abspath(args.build_dir)
        self.jobwatchd = os.path.join(args.build_dir, "src", "jobwatchd")
        self.fakeapi = os.path.join(args.build_dir, "tests", "fakeapi", "fakeapi")
        self.wrk = shutil.which("wrk")
        self.nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.curl_probe = os.path.join(args.build_dir, "curl_probe")
        self.wrk_threads = args.wrk_threads
        self.work = tempfile.mkdtemp(prefix="jobwatch-bench-")
        self.r = {}  # results
        self.notes = []

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    # 1-3: throughput against one server
    def daemon_rate(self, name, base_url, count, seconds, threads=1):
        d = Daemon(self, name, base_url, count, "0ms", threads=threads)
        try:
            d.wait_ready()
            d.wait_polls(count, 60)  # every job seen once: warm
            time.sleep(1)
            (p0, all0), c0, t0 = d.poll_counts(), cpu_seconds(d.pid), time.monotonic()
            time.sleep(seconds)
            (p1, all1), c1, t1 = d.poll_counts(), cpu_seconds(d.pid), time.monotonic()
            if (all1 - all0) - (p1 - p0) > 0:
                self.notes.append(f"{name}: {(all1 - all0) - (p1 - p0):.0f} polls were not ok")
            n = p1 - p0
            return n / (t1 - t0), (c1 - c0) / n * 1e6
        finally:
            d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)

    def sharded_rate(self, name, base_url, count, seconds, shards=2):
        """`shards` jobwatchd processes splitting the jobs (shard.index /
        shard.count) and the 32 connections between them."""
        ds = [Daemon(self, f"{name}-{i}", base_url, count, "0ms", connections=32 // shards,
                     shard=(i, shards)) for i in range(shards)]
        try:
            for d in ds:
                d.wait_ready()
            for d in ds:
                d.wait_polls(count // shards, 60)
            time.sleep(1)
            p0 = sum(d.poll_counts()[0] for d in ds)
            c0, t0 = sum(cpu_seconds(d.pid) for d in ds), time.monotonic()
            time.sleep(seconds)
            p1 = sum(d.poll_counts()[0] for d in ds)
            c1, t1 = sum(cpu_seconds(d.pid) for d in ds), time.monotonic()
            n = p1 - p0
            return n / (t1 - t0), (c1 - c0) / n * 1e6
        finally:
            for d in ds:
                d.stop()
                shutil.rmtree(d.dir, ignore_errors=True)

    def curl_alone(self, base_url, count, seconds):
        """libcurl with jobwatchd's loop and options, doing nothing else."""
        out = subprocess.run([self.curl_probe, "perform", base_url, PREFIX, str(count),
                              str(seconds)], capture_output=True, text=True, timeout=seconds + 30)
        if out.returncode != 0:
            raise RuntimeError("curl_probe failed:\n" + out.stdout + out.stderr)
        res = json.loads(out.stdout)
        return res["requests"] / res["seconds"], res["cpu_seconds"] / res["requests"] * 1e6

    def throughput(self, server_name, server, count, rounds):
        """Rounds of wrk, libcurl alone and jobwatchd, interleaved so that
        the shared machine's noise hits all three alike."""
        r = {"ceilings": [], "curl": [], "curl_cpus": [], "rates": [], "cpus": [], "sharded": [],
             "threaded": [], "threaded_cpus": []}
        for i in range(rounds):
            rate = wrk(self, server.base_url, count, self.args.seconds)
            self.log(f"  wrk vs {server_name}: {rate:,.0f} req/s")
            r["ceilings"].append(rate)
            cr, cc = self.curl_alone(server.base_url, count, self.args.seconds)
            self.log(f"  libcurl alone vs {server_name}: {cr:,.0f} req/s, {cc:.1f} us CPU/req")
            r["curl"].append(cr)
            r["curl_cpus"].append(cc)
            dr, dc = self.daemon_rate(f"rate-{server_name}-{i}", server.base_url, count,
                                      self.args.seconds)
            self.log(f"  jobwatchd vs {server_name}: {dr:,.0f} polls/s, {dc:.1f} us CPU/poll")
            r["rates"].append(dr)
            r["cpus"].append(dc)
            if self.args.threads > 1:
                tr, tc = self.daemon_rate(f"threads-{server_name}-{i}", server.base_url, count,
                                          self.args.seconds, threads=self.args.threads)
                self.log(f"  jobwatchd threads: {self.args.threads} vs {server_name}: "
                         f"{tr:,.0f} polls/s, {tc:.1f} us CPU/poll")
                r["threaded"].append(tr)
                r["threaded_cpus"].append(tc)
            if self.args.shards > 1:
                sr, sc = self.sharded_rate(f"shards-{server_name}-{i}", server.base_url, count,
                                           self.args.seconds, self.args.shards)
                self.log(f"  {self.args.shards} jobwatchd shards vs {server_name}: {sr:,.0f} "
                         f"polls/s, {sc:.1f} us CPU/poll")
                r["sharded"].append(sr)
        # Capacity under noise: the best round of each (noise only slows).
        r.update(ceiling=max(r["ceilings"]), curl_rate=max(r["curl"]), rate=max(r["rates"]),
                 sharded_rate=max(r["sharded"], default=0),
                 threaded_rate=max(r["threaded"], default=0),
                 threaded_cpu=statistics.median(r["threaded_cpus"]) if r["threaded_cpus"] else 0,
                 cpu=statistics.median(r["cpus"]), curl_cpu=statistics.median(r["curl_cpus"]))
        return r

    def python_pool(self, base_url, count):
        out = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "python_pool.py"),
                              "--base-url", base_url, "--prefix", PREFIX, "--count", str(count),
                              "--workers", "32", "--max-seconds", "40"],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("python pool failed:\n" + out.stderr[-2000:])
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if res["errors"]:
            self.notes.append(f"python pool: {res['errors']} errors")
        return res["polls"] / res["seconds"]

    # 4 memory, 6 start-up, 7 scrape
    def memory(self, api, count, interval, name=None, watch_file=True, state_dir=None):
        """RSS once every job was polled twice (all fields and series
        filled) and /metrics was scraped once, as Prometheus would."""
        d = Daemon(self, name or f"mem-{count}", api.base_url, count, interval, jitter="0.1",
                   watch_file=watch_file, state_dir=state_dir)
        try:
            d.wait_ready()
            if count:
                d.wait_polls(2 * count, 120)
            else:
                time.sleep(2)
            d.scrape_once()
            time.sleep(0.5)
            return rss_bytes(d.pid), d
        finally:
            d.stop()

    def startup(self, api, state_dir, runs, watch_file):
        times, scrapes, size = [], [], 0
        for i in range(runs):
            d = Daemon(self, "startup", api.base_url, 0, "60s", jitter="0.1",
                       watch_file=watch_file, state_dir=state_dir)
            try:
                times.append(d.wait_ready())
                if i == runs - 1 and watch_file is False:
                    # 7: scrape with 100k per-job series (polling is light at 60 s).
                    time.sleep(1)
                    for _ in range(7):
                        seconds, body = timed_scrape(d.metrics_port)
                        scrapes.append(seconds)
                        size = len(body)
                    series = body.decode().count("\njobwatch_job_status{")
                    self.r["scrape_series"] = series
            finally:
                d.stop()
        return times, scrapes, size

    # 5 latency
    def latency(self, count, switches, spacing):
        api = FakeApi(self, "lat-api", count)
        hook_log = os.path.join(self.work, "lat", "hook.log")
        os.makedirs(os.path.dirname(hook_log), exist_ok=True)
        hooks = textwrap.dedent(f"""\
            hooks:
              max_concurrent: 4
              definitions:
                - name: stamp
                  on: [completed]
                  shell: 'echo "$JOBWATCH_JOB_ID $(date +%s.%N)" >> {hook_log}'
                  timeout: 10s
                  retries: 0
            """)
        d = Daemon(self, "lat", api.base_url, count, "1s", jitter="0", hooks=hooks)
        try:
            d.wait_ready()
            d.wait_polls(2 * count, 60)
            rng = random.Random(7)
            chosen = rng.sample(range(count), switches)
            conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
            switched = {}
            start = time.time() + 0.2
            for k, idx in enumerate(chosen):
                target = start + k * spacing
                delay = target - time.time()
                if delay > 0:
                    time.sleep(delay)
                job_id = f"{PREFIX}{idx}"
                t = time.time()
                conn.request("POST", f"/_admin/jobs/{job_id}?status=COMPLETED")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"admin switch failed: {r.status}")
                switched[job_id] = t
            conn.close()

            def lines():
                if not os.path.exists(hook_log):
                    return []
                with open(hook_log) as f:
                    return [l.split() for l in f if l.strip()]
            wait_for(lambda: len(lines()) >= switches, 60, f"{switches} hook runs", interval=0.2)
            delays = []
            for job_id, ts in lines():
                delays.append(float(ts) - switched[job_id])
            delays.sort()
            return delays
        finally:
            d.stop()
            api.stop()

    def run(self):
        a = self.args
        t_start = time.monotonic()
        self.r["load_start"] = os.getloadavg()[0]

        self.log(f"throughput: {a.jobs:,} jobs, {a.rounds} rounds of wrk / jobwatchd, "
                 f"{a.seconds} s each")
        api = FakeApi(self, "rate-api", a.jobs)
        try:
            self.r["fake"] = self.throughput("fakeapi", api, a.jobs, a.rounds)
            self.log("python requests pool (32 threads), one pass over the jobs")
            self.r["python"] = self.python_pool(api.base_url, a.jobs)
            self.log(f"  python: {self.r['python']:,.0f} polls/s")
        finally:
            api.stop()

        if a.nginx:
            self.log("throughput against nginx serving static job files")
            ng = Nginx(self, a.jobs)
            try:
                self.r["nginx"] = self.throughput("nginx", ng, a.jobs, a.rounds)
            finally:
                ng.stop()

        self.log(f"memory: 0, {a.jobs:,} and {a.big:,} jobs")
        api = FakeApi(self, "mem-api", a.big)
        try:
            self.r["rss0"], _ = self.memory(api, 0, "5s")
            self.r["rss_small"], _ = self.memory(api, a.jobs, "2s")
            self.r["rss_big"], big = self.memory(api, a.big, "5s")
            # The same jobs after a restart: loaded from the state database.
            self.r["rss_big_restart"], _ = self.memory(api, a.big, "5s", name="mem-restart",
                                                       watch_file=False, state_dir=big.dir)
            self.log(f"  RSS {self.r['rss0'] / 2**20:.1f} / {self.r['rss_small'] / 2**20:.1f} / "
                     f"{self.r['rss_big'] / 2**20:.1f} MiB; after a restart "
                     f"{self.r['rss_big_restart'] / 2**20:.1f} MiB")
            # 6, 7: restart on the state database the 100k run left behind.
            self.log(f"start-up with {a.big:,} jobs in the state database; scrape")
            times, scrapes, size = self.startup(api, big.dir, 3, watch_file=False)
            self.r["ready"], self.r["scrapes"], self.r["scrape_bytes"] = times, scrapes, size
            times_wf, _, _ = self.startup(api, big.dir, 1, watch_file=True)
            self.r["ready_wf"] = times_wf
            self.log(f"  ready {[round(t, 3) for t in times]} s (+watch file {times_wf[0]:.3f} s); "
                     f"scrape {[round(s * 1000) for s in scrapes]} ms")
        finally:
            api.stop()

        self.log(f"latency: {a.jobs:,} jobs at 1 s, {a.switches} switched to COMPLETED")
        self.r["delays"] = self.latency(a.jobs, a.switches, a.spacing)

        if a.result_jobs > 0:
            self.log(f"results: {a.result_jobs} x {a.result_mib} MiB fetched, RSS (results_rss.py)")
            try:
                res = results_rss.measure(self.args.build_dir, a.result_jobs, a.result_mib,
                                          time_limit=a.time_limit)
            except SystemExit as e:  # results_rss's own bounded waits ran out
                self.r["results_failed"] = str(e)
            else:
                self.r["results"] = res
                self.log(f"  {res['elapsed']:.1f} s; RSS idle {res['idle_kib'] / 1024:.1f} MiB, "
                         f"peak {res['peak_kib'] / 1024:.1f} MiB")
        self.r["load_end"] = os.getloadavg()[0]
        self.r["elapsed"] = time.monotonic() - t_start

    # ----------------------------------------------------------------------
    def report(self):
        r, a = self.r, self.args
        rows = []

        def row(name, value, target, ok):
            rows.append((name, value, target, "" if ok is None else ("PASS" if ok else "MISS")))

        for key, server in (("fake", "fakeapi"), ("nginx", "nginx")):
            if key not in r:
                continue
            t = r[key]
            row(f"ceiling: wrk -t{self.wrk_threads} -c32 vs {server}",
                f"{t['ceiling']:,.0f} req/s", "", None)
            row(f"  libcurl alone (1 thread, same loop) vs {server}",
                f"{t['curl_rate']:,.0f} req/s ({t['curl_rate'] / t['ceiling']:.2f} x)", "", None)
            if t["threaded_rate"]:
                row(f"jobwatchd polls/s vs {server}, api.threads: {a.threads} (one process)",
                    f"{t['threaded_rate']:,.0f} /s ({t['threaded_rate'] / t['ceiling']:.2f} x)",
                    f">= 0.75 x ceiling = {0.75 * t['ceiling']:,.0f}",
                    t["threaded_rate"] >= 0.75 * t["ceiling"])
                row(f"  CPU per poll, threads: {a.threads}", f"{t['threaded_cpu']:.1f} us",
                    "<= 20 us", t["threaded_cpu"] <= 20)
            row(f"jobwatchd polls/s vs {server}, one engine thread",
                f"{t['rate']:,.0f} /s ({t['rate'] / t['ceiling']:.2f} x)", "", None)
            if t["sharded_rate"]:
                row(f"  {a.shards} jobwatchd shards x {32 // a.shards} conns vs {server}",
                    f"{t['sharded_rate']:,.0f} /s ({t['sharded_rate'] / t['ceiling']:.2f} x)", "",
                    None)
        fake = r["fake"]
        row("python requests, 32 threads vs fakeapi", f"{r['python']:,.0f} /s", "", None)
        row("jobwatchd / python pool", f"{fake['rate'] / r['python']:.1f} x", ">= 20 x",
            fake["rate"] / r["python"] >= 20)
        row("CPU per poll (vs fakeapi)", f"{fake['cpu']:.1f} us", "<= 20 us", fake["cpu"] <= 20)
        row("  libcurl alone, CPU per request", f"{fake['curl_cpu']:.1f} us", "", None)
        if "nginx" in r:
            row("CPU per poll (vs nginx)", f"{r['nginx']['cpu']:.1f} us", "<= 20 us",
                r["nginx"]["cpu"] <= 20)
        mib = 2**20
        row("RSS, 0 jobs", f"{r['rss0'] / mib:.1f} MiB", "", None)
        per_small = (r["rss_small"] - r["rss0"]) / a.jobs
        per_big = (r["rss_big"] - r["rss0"]) / a.big
        row(f"RSS, {a.jobs:,} jobs", f"{r['rss_small'] / mib:.1f} MiB ({per_small:,.0f} B/job)",
            "", None)
        per_restart = (r["rss_big_restart"] - r["rss0"]) / a.big
        row(f"RSS, {a.big:,} new jobs from the watch file", f"{r['rss_big'] / mib:.1f} MiB", "",
            None)
        row("  bytes per job", f"{per_big:,.0f} B", "<= 1,024 B", per_big <= 1024)
        row(f"RSS, the same {a.big:,} jobs after a restart",
            f"{r['rss_big_restart'] / mib:.1f} MiB", "", None)
        row("  bytes per job", f"{per_restart:,.0f} B", "<= 1,024 B", per_restart <= 1024)
        d = r["delays"]
        p50 = statistics.median(d)
        p99 = d[min(len(d) - 1, int(round(0.99 * len(d))) - 1)]
        row(f"switch -> hook start, p50 ({len(d)} jobs)", f"{p50 * 1000:,.0f} ms", "", None)
        row("switch -> hook start, p99", f"{p99 * 1000:,.0f} ms", "<= 1,050 ms (1 s + 50 ms)",
            p99 <= 1.05)
        row("switch -> hook start, max", f"{max(d) * 1000:,.0f} ms", "", None)
        ready = statistics.median(r["ready"])
        row(f"ready with {a.big:,} jobs in state.db (median of {len(r['ready'])})",
            f"{ready * 1000:,.0f} ms", "<= 1,000 ms", ready <= 1.0)
        row(f"  same, plus the {a.big:,}-line watch file", f"{r['ready_wf'][0] * 1000:,.0f} ms", "",
            None)
        sc = statistics.median(r["scrapes"])
        row(f"GET /metrics, {r.get('scrape_series', 0):,} per-job series (median of "
            f"{len(r['scrapes'])})",
            f"{sc * 1000:,.0f} ms ({r['scrape_bytes'] / mib:.1f} MiB)", "<= 250 ms", sc <= 0.25)
        if "results" in r:
            res = r["results"]
            total = res["jobs"] * res["mib"]
            over = (res["peak_kib"] - res["idle_kib"]) / 1024
            row(f"results fetched, {res['jobs']} x {res['mib']} MiB",
                f"{res['elapsed']:,.1f} s ({total / res['elapsed']:,.0f} MiB/s)", "", None)
            row("  RSS idle -> peak (VmHWM) while fetching",
                f"{res['idle_kib'] / 1024:.1f} -> {res['peak_kib'] / 1024:.1f} MiB (+{over:.1f})",
                "<= +64 MiB", over <= 64)
        if "results_failed" in r:
            row("results fetched", r["results_failed"], "", False)

        print()
        print("jobwatchd benchmark, " + time.strftime("%Y-%m-%d %H:%M:%S %Z"))
        print(f"machine: {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, "
              f"load average {r['load_start']:.2f} at start, {r['load_end']:.2f} at end")
        print(f"build:   {self.args.build_dir} (Release), {git_describe()}")
        print(f"run:     {r['elapsed']:.0f} s; throughput figures are the best of "
              f"{a.rounds} interleaved rounds of {a.seconds} s")
        if max(r["load_start"], r["load_end"]) > (os.cpu_count() or 1) / 2:
            print("WARNING: the machine was busy with other work (load average above); "
                  "throughput ratios are unreliable, run again when it is quieter")
        print()
        w = [max(len(x[i]) for x in rows + [("figure", "measured", "target", "")])
             for i in range(3)]
        print(f"{'figure':<{w[0]}}  {'measured':>{w[1]}}  {'target':<{w[2]}}  result")
        print(f"{'-' * w[0]}  {'-' * w[1]}  {'-' * w[2]}  ------")
        for name, value, target, res in rows:
            print(f"{name:<{w[0]}}  {value:>{w[1]}}  {target:<{w[2]}}  {res}")
        print()
        print("samples:")
        for key in ("fake", "nginx"):
            if key in r:
                s = r[key]
                print(f"  {key}: wrk {[round(x) for x in s['ceilings']]} req/s; libcurl alone "
                      f"{[round(x) for x in s['curl']]} req/s, "
                      f"{[round(x, 1) for x in s['curl_cpus']]} us CPU/req; jobwatchd "
                      f"{[round(x) for x in s['rates']]} polls/s, "
                      f"{[round(x, 1) for x in s['cpus']]} us CPU/poll; shards "
                      f"{[round(x) for x in s['sharded']]} polls/s")
        print(f"  ready {[round(t * 1000) for t in r['ready']]} ms; scrape "
              f"{[round(s * 1000) for s in r['scrapes']]} ms")
        for n in self.notes:
            print("  note: " + n)
        return all(x[3] != "MISS" for x in rows)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--", "../../src"],
                               capture_output=True, text=True).stdout.strip()
        return f"commit {rev}" + (" + local changes in src/" if dirty else "")
    except OSError:
        return "commit unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--seconds", type=int, default=5, help="each throughput window")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--switches", type=int, default=1000)
    ap.add_argument("--spacing", type=float, default=0.01, help="seconds between switches")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2,
                    help="also measure one jobwatchd with api.threads: N (1: off)")
    ap.add_argument("--shards", type=int, default=2,
                    help="also measure this many jobwatchd processes sharing the jobs (1: off)")
    ap.add_argument("--nginx", action="store_true",
                    help="also measure against nginx serving static job files")
    ap.add_argument("--result-jobs", type=int, default=RESULT_JOBS,
                    help="results fetched for the results RSS figure (0: skip it)")
    ap.add_argument("--result-mib", type=int, default=RESULT_MIB,
                    help="size of each result; the full run is --result-jobs 100 --result-mib 50")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--time-limit", type=int, default=900, help="whole run, seconds")
    args = ap.parse_args()

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    def on_alarm(signum, frame):
        raise TimeoutError(f"bench exceeded its {args.time_limit} s limit")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.time_limit)

    bench = Bench(args)
    ok = False
    try:
        bench.run()
        ok = bench.report()
    except (KeyboardInterrupt, TimeoutError) as e:
        print(f"bench: stopped: {e}", file=sys.stderr)
        ok = False
    finally:
        signal.alarm(0)
        PROCS.stop_all()
        if args.keep:
            print(f"work directory kept: {bench.work}")
        else:
            shutil.rmtree(bench.work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
