#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Adaptive polling against the real binary (README "Adaptive polling"):
the simulation's question asked of two real jobwatchd processes, each polling
its own fake API (tests/fakeapi) that serves the same seeded trace, side by
side in time: one with `poll.strategy: round_robin`, one with `adaptive`.

The trace: jobs of 3 types with log-normal durations that differ by type
(10 % failing early, at a quarter of the type's median), arriving uniformly
over --window seconds; `poll.interval` 1s, so a run takes ~4 minutes. The
fake API plays each job's timeline (queued, PROCESSING, COMPLETED/FAILED)
from its start (`timeline_start: server_start`), shifted by a lead-in that
lets the daemons start; each job is handed to the daemon through its drop
directory at its arrival time, with `created_at` = that time.

`api.rate_limit` = --share (default 25 %) of what polling every unfinished
job each interval needs (Little: total busy time / window / interval, as
adaptive_sim computes it).

Warm-up: the duration model is used for a type only after 20 finished jobs.
Each daemon's state file is pre-seeded by a short warm-up run (its own fake
API: 40 already-finished jobs per type with durations from the trace's
distributions); the main run restores them at start and learns from them,
like a daemon that has been running for a while. Both strategies start from
the same state file; round robin ignores it. --no-warm-up starts from empty
state files instead (the model learns during the run, as in adaptive_sim).

Detection delay: the daemon's JSON log line for the job's terminal status
("status change" or "job seen", ms timestamps) minus the true time in the
trace (the fake API's start, read from a sentinel job's `updated_at`, plus
the job's offset). Requests: the fake API's `GET /_admin/requests` total.

    python3 tests/bench/adaptive_real.py --build-dir build/bench-release [--smoke]

Part of tests/bench/run-adaptive-bench.sh (after the simulation); ctest runs
the --smoke trace (label bench, ~50 s).

Exit status: 0 when the run completed (whatever the figures); 1 on a harness
failure (a process died, a job was never seen finishing; with --smoke also
more requests than the budget allowed); 2 usage.
"""
import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone

TYPES = [("classify", 4.0, 0.3), ("ocr", 12.0, 0.4), ("extraction", 30.0, 0.5)]
SMOKE_TYPES = [("classify", 1.0, 0.3), ("ocr", 3.0, 0.4), ("extraction", 6.0, 0.5)]
FAIL_SHARE = 0.1
FAIL_SPEEDUP = 0.25
WARM_PER_TYPE = 40
LEAD_IN = 5.0  # seconds from the fake API's start to the trace's t = 0
STRATEGIES = ("round_robin", "adaptive")
TERMINAL = ("completed", "failed")


class HarnessError(Exception):
    pass


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(s):
    return datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def draw(rng, types, interval):
    """One job: (type, queued seconds, duration seconds, fails)."""
    name, median, sigma = rng.choice(types)
    fails = rng.random() < FAIL_SHARE
    d = max(0.5, rng.lognormvariate(math.log(median * (FAIL_SPEEDUP if fails else 1)), sigma))
    q = min(rng.expovariate(1 / interval), d / 2)
    return name, q, d, fails


def make_trace(types, n, window, interval, seed):
    """Jobs in ms since the trace's t = 0, and the full budget (req/s)."""
    rng = random.Random(seed)
    jobs = []
    for _ in range(n):
        name, q, d, fails = draw(rng, types, interval)
        a = rng.uniform(0, window)
        jobs.append({"type": name, "arrive": round(a * 1000), "start": round((a + q) * 1000),
                     "finish": round((a + d) * 1000), "fails": fails})
    jobs.sort(key=lambda j: (j["arrive"], j["finish"]))
    for i, j in enumerate(jobs):
        j["id"] = f"rt-{i:05d}"
    busy = sum(j["finish"] - j["arrive"] for j in jobs) / 1000
    return jobs, busy / window / interval


def warm_jobs(types, interval, seed):
    rng = random.Random(seed + 1000)
    out = []
    for name, median, sigma in types:
        for k in range(WARM_PER_TYPE):
            _, _, d, fails = draw(rng, [(name, median, sigma)], interval)
            out.append({"id": f"warm-{name}-{k:02d}", "type": name, "duration": d, "fails": fails})
    return out


def job_yaml(id_, type_, created, steps, fails):
    timeline = ", ".join(f"{{at: {at}ms, status: {st}}}" for at, st in steps)
    error = '\n    error: "bench failure"' if fails else ""
    return (f"  - id: {id_}\n    type: {type_}\n    created_at: \"{iso(created)}\"{error}\n"
            f"    timeline: [{timeline}]\n")


class Proc:
    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


class Fake:
    """A fakeapi process serving `body` (the jobs: list) plus a sentinel job
    whose updated_at is the fake's own start (the timelines' zero)."""

    def __init__(self, binary, workdir, name, body):
        path = os.path.join(workdir, name + ".yaml")
        with open(path, "w") as f:
            f.write("timeline_start: server_start\njobs:\n"
                    "  - id: bench-clock\n    timeline: [{at: 0s, status: PROCESSING}]\n" + body)
        port_file = os.path.join(workdir, name + ".port")
        if os.path.exists(port_file):
            os.unlink(port_file)  # a previous attempt's
        self.p = Proc([binary, "--scenario", path, "--listen", "127.0.0.1:0", "--port-file",
                       port_file], os.path.join(workdir, name + ".log"))
        wait_for(lambda: os.path.exists(port_file) or not self.p.alive(), 30, name + " port file")
        if not self.p.alive():
            raise HarnessError(f"{name} exited: " + open(self.p.log_path).read()[-2000:])
        with open(port_file) as f:
            self.url = f"http://127.0.0.1:{int(f.read().strip())}"
        self.start = parse_iso(self.get("/jobs/bench-clock")["updated_at"])
        self.post("/_admin/reset")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def post(self, path):
        req = urllib.request.Request(self.url + path, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def requests(self):
        return self.get("/_admin/requests")["total"]


class Daemon:
    def __init__(self, binary, workdir, name, fake_url, strategy, rate, interval):
        self.workdir = workdir
        self.drop = os.path.join(workdir, "drop")
        os.makedirs(self.drop, exist_ok=True)
        config = os.path.join(workdir, name + ".yaml")
        with open(config, "w") as f:
            f.write(f"""api:
  base_url: {fake_url}
  allow_insecure_http: true
  rate_limit: {rate}
  request_timeout: 5s
  connect_timeout: 2s
poll:
  interval: {interval}s
  strategy: {strategy}
  overdue_after: "off"
watch:
  drop_dir: {self.drop}
state:
  path: {os.path.join(workdir, "state.db")}
metrics:
  listen: 127.0.0.1:0
  per_job_series: false
control:
  socket: {os.path.join(workdir, name + ".sock")}
logging:
  level: info
  format: json
""")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "UNSILOED_API_KEY": "sk-bench-0123456789abcdef"}
        self.p = Proc([binary, "--config", config], os.path.join(workdir, name + ".log"), env)
        self.offset = 0
        self.seen = {}  # job id -> (log time, status)
        self.lines = []
        wait_for(lambda: self.poll_log("jobwatchd started") or not self.p.alive(), 30,
                 f"{name} to start")
        if not self.p.alive():
            raise HarnessError(f"{name} exited ({self.p.proc.returncode}): " +
                               open(self.p.log_path).read()[-2000:])

    def poll_log(self, needle=None):
        """Reads new log lines; records terminal statuses; True if needle seen."""
        with open(self.p.log_path) as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind("\n") + 1
        self.offset += len(chunk[:end].encode())
        found = False
        for line in chunk[:end].splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            self.lines.append(e)
            if needle and e.get("msg") == needle:
                found = True
            if e.get("msg") in ("status change", "job seen") and e.get("to") in TERMINAL:
                self.seen.setdefault(e["job_id"], (parse_iso(e["ts"]), e["to"]))
        return found

    def hand_over(self, ids, tag):
        tmp = os.path.join(self.drop, f".{tag}.tmp")
        with open(tmp, "w") as f:
            f.write("".join(i + "\n" for i in ids))
        os.rename(tmp, os.path.join(self.drop, f"{tag}.txt"))


def warm_up(args, types, root):
    """Pre-seeds each strategy's state file with finished jobs (see above)."""
    jobs = warm_jobs(types, args.interval, args.seed)
    planned = time.time()
    body = "".join(
        job_yaml(j["id"], j["type"], planned - j["duration"],
                 [(0, "FAILED" if j["fails"] else "COMPLETED")], j["fails"]) for j in jobs)
    fake = Fake(args.fakeapi, root, "warm-fakeapi", body)
    try:
        daemons = []
        for s in STRATEGIES:
            wd = os.path.join(root, s)
            os.makedirs(os.path.join(wd, "drop"), exist_ok=True)
            d = Daemon(args.jobwatchd, wd, "warm-jobwatchd", fake.url, s, "0", args.interval)
            d.hand_over([j["id"] for j in jobs], "warm")
            daemons.append(d)
        for d in daemons:
            wait_for(lambda: (d.poll_log(), len(d.seen) >= len(jobs))[1] or not d.p.alive(), 60,
                     "the warm-up jobs to finish")
            if d.p.stop() != 0:
                raise HarnessError("warm-up jobwatchd did not stop cleanly: " + d.p.log_path)
    finally:
        fake.p.stop()
    return len(jobs)


def start_trace_fake(args, jobs, workdir):
    """The trace's fake API. `created_at` is written before the fake starts,
    as its expected start + lead-in + arrival: the start-up time (parsing
    the scenario) is measured and the fake restarted until the guess is
    within 30 ms, so the ages the daemon computes are the trace's."""
    guess = 0.0
    for attempt in range(4):
        planned = time.time() + guess
        body = "".join(
            job_yaml(j["id"], j["type"], planned + LEAD_IN + j["arrive"] / 1000,
                     [(0, "queued"), (round(LEAD_IN * 1000) + j["start"], "PROCESSING"),
                      (round(LEAD_IN * 1000) + j["finish"],
                       "FAILED" if j["fails"] else "COMPLETED")], j["fails"])
            for j in jobs)
        fake = Fake(args.fakeapi, workdir, "fakeapi", body)
        fake.created_skew = fake.start - planned
        if abs(fake.created_skew) <= 0.03 or attempt == 3:
            return fake
        fake.p.stop()
        guess += fake.created_skew


def main_run(args, jobs, rate, root):
    fakes, daemons = {}, {}
    try:
        for s in STRATEGIES:
            fakes[s] = start_trace_fake(args, jobs, os.path.join(root, s))
        for s in STRATEGIES:
            daemons[s] = Daemon(args.jobwatchd, os.path.join(root, s), "jobwatchd", fakes[s].url,
                                s, f"{rate:.3f}/s", args.interval)
            daemons[s].started = time.time()
        t0 = {s: fakes[s].start + LEAD_IN for s in STRATEGIES}
        late = max(time.time() - t for t in t0.values())
        if late > 0:
            raise HarnessError(f"the daemons took {late + LEAD_IN:.1f}s to start (lead-in "
                               f"{LEAD_IN}s)")
        # Hand the jobs over at their arrival times, 100 ms batches.
        events = []
        for s in STRATEGIES:
            batch = {}
            for j in jobs:
                batch.setdefault(j["arrive"] // 100, []).append(j["id"])
            events += [(t0[s] + tick / 10, s, tick, ids) for tick, ids in batch.items()]
        events.sort()
        for at, s, tick, ids in events:
            delay = at - time.time()
            if delay > 0:
                time.sleep(delay)
            daemons[s].hand_over(ids, f"t{tick:05d}")
        last_finish = max(j["finish"] for j in jobs) / 1000
        deadline = max(t0.values()) + last_finish + 60 - time.time()
        for s in STRATEGIES:
            d = daemons[s]
            wait_for(lambda: (d.poll_log(), len(d.seen) >= len(jobs))[1] or not d.p.alive(),
                     max(deadline, 5), f"{s}: every job seen finishing")
            if not d.p.alive():
                raise HarnessError(f"jobwatchd ({s}) exited: {d.p.log_path}")
        out = {}
        for s in STRATEGIES:
            d, f = daemons[s], fakes[s]
            requests = f.requests()
            delays = sorted(d.seen[j["id"]][0] - (t0[s] + j["finish"] / 1000) for j in jobs)
            wrong = [j["id"] for j in jobs
                     if d.seen[j["id"]][1] != ("failed" if j["fails"] else "completed")]
            if wrong:
                raise HarnessError(f"{s}: wrong terminal status for {wrong[:5]}")
            last_seen = max(t for t, _ in d.seen.values())
            out[s] = {"mean": sum(delays) / len(delays),
                      "p95": delays[int(0.95 * (len(delays) - 1))],
                      "min": delays[0], "max": delays[-1], "requests": requests,
                      "allowed": max(1.0, rate) + rate * (last_seen - d.started),
                      "seconds": last_seen - t0[s], "created_skew": f.created_skew}
        return out
    finally:
        for d in daemons.values():
            d.p.stop()
        for f in fakes.values():
            f.p.stop()


def simulated(args, n, window, types):
    """adaptive_sim's prediction for this trace (its --real-trace: the same
    types, arrival rate and budget share at 10x the time scale, its own
    seeded draws, a model learned from scratch), scaled back; None when the
    parameters differ from that preset or the simulator is not built."""
    sim = args.adaptive_sim or os.path.join(args.build_dir, "tests", "bench", "adaptive_sim")
    if (types != TYPES or args.interval != 1.0 or args.share != 0.25 or
            abs(window - n * 0.12) > 1e-6 or not os.access(sim, os.X_OK)):
        return None
    out = subprocess.run([sim, "--real-trace", "--jobs", str(n), "--seed", str(args.seed)],
                         capture_output=True, text=True, timeout=300).stdout
    row = [l for l in out.splitlines() if l.strip().startswith("25%")]
    if not row:
        return None
    f = row[0].replace("|", " ").replace("s ", " ").split()[1:]
    return {name: {"mean": float(f[3 * i].rstrip("s")) / 10,
                   "p95": float(f[3 * i + 1].rstrip("s")) / 10, "requests": int(f[3 * i + 2])}
            for i, name in enumerate(("round_robin", "adaptive", "oracle"))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build/bench-release",
                    help="build dir holding src/jobwatchd and tests/fakeapi/fakeapi")
    ap.add_argument("--jobwatchd", help="the jobwatchd binary (default: from --build-dir)")
    ap.add_argument("--fakeapi", help="the fakeapi binary (default: from --build-dir)")
    ap.add_argument("--adaptive-sim", help="the simulator, for its prediction (default: "
                    "from --build-dir; skipped when missing)")
    ap.add_argument("--jobs", type=int, default=None, help="trace jobs (default 1000, smoke 150)")
    ap.add_argument("--window", type=float, default=None,
                    help="arrivals over this many seconds (default 120, smoke 15)")
    ap.add_argument("--share", type=float, default=0.25,
                    help="budget as a share of polling every unfinished job each interval")
    ap.add_argument("--interval", type=float, default=1.0, help="poll.interval in seconds")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--smoke", action="store_true", help="a small trace (~45 s), for ctest")
    ap.add_argument("--no-warm-up", action="store_true",
                    help="start from empty state files: the model learns during the run")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, state)")
    args = ap.parse_args()
    args.jobwatchd = args.jobwatchd or os.path.join(args.build_dir, "src", "jobwatchd")
    args.fakeapi = args.fakeapi or os.path.join(args.build_dir, "tests", "fakeapi", "fakeapi")
    for b in (args.jobwatchd, args.fakeapi):
        if not os.access(b, os.X_OK):
            print(f"adaptive_real: {b} missing (build the jobwatchd and fakeapi targets)",
                  file=sys.stderr)
            return 2
    types = SMOKE_TYPES if args.smoke else TYPES
    n = args.jobs or (150 if args.smoke else 1000)
    window = args.window or (15.0 if args.smoke else 120.0)
    jobs, full = make_trace(types, n, window, args.interval, args.seed)
    rate = args.share * full
    failing = sum(j["fails"] for j in jobs)
    print(f"adaptive_real: {n} jobs over {window:.0f}s ({failing} failing), types " +
          ", ".join(f"{t} median {m:g}s sigma {s:g}" for t, m, s in types) +
          f"; interval {args.interval:g}s; full budget {full:.1f} req/s, "
          f"rate_limit {rate:.2f} req/s ({args.share:.0%})", flush=True)
    root = tempfile.mkdtemp(prefix="jobwatch-adaptive-real-")
    try:
        if args.no_warm_up:
            for s in STRATEGIES:
                os.makedirs(os.path.join(root, s))
            print("adaptive_real: no warm-up (empty state files)", flush=True)
        else:
            warmed = warm_up(args, types, root)
            print(f"adaptive_real: state files pre-seeded with {warmed} finished jobs "
                  f"({WARM_PER_TYPE} per type)", flush=True)
        print("adaptive_real: main run, both strategies side by side...", flush=True)
        res = main_run(args, jobs, rate, root)
    except HarnessError as e:
        print(f"adaptive_real: FAILED: {e} (work dir kept: {root})", file=sys.stderr)
        return 1
    print("\n| strategy | mean delay | p95 delay | requests | budget allowed | run |")
    print("|---|---|---|---|---|---|")
    for s in STRATEGIES:
        r = res[s]
        print(f"| {s} | {r['mean']:.2f} s | {r['p95']:.2f} s | {r['requests']} | "
              f"{r['allowed']:.0f} | {r['seconds']:.0f} s |")
    sim = simulated(args, n, window, types)
    if sim:
        for s in ("round_robin", "adaptive", "oracle"):
            r = sim[s]
            print(f"| {s} (simulated) | {r['mean']:.2f} s | {r['p95']:.2f} s | "
                  f"{r['requests']} | | |")
    rr, ad = res["round_robin"], res["adaptive"]
    print(f"\nadaptive / round_robin: mean {ad['mean'] / rr['mean']:.2f}x, "
          f"p95 {ad['p95'] / rr['p95']:.2f}x; delays min {min(rr['min'], ad['min']):.3f} s; "
          f"created_at skew {max(abs(r['created_skew']) for r in res.values()) * 1000:.0f} ms")
    status = 0
    for s in STRATEGIES:
        if res[s]["requests"] > res[s]["allowed"]:
            print(f"adaptive_real: {s} spent {res[s]['requests']} requests, the budget "
                  f"allowed {res[s]['allowed']:.0f}", file=sys.stderr)
            if args.smoke:
                status = 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"jobs": n, "window": window, "full_budget": full, "rate": rate,
                       "results": res, "simulated": sim}, f, indent=1)
    if args.keep:
        print(f"adaptive_real: work dir kept: {root}")
    else:
        subprocess.run(["rm", "-rf", root], check=False)
    return status


if __name__ == "__main__":
    sys.exit(main())
