#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Results benchmark: jobwatchd's memory while it fetches many large results.

Starts the fake API with N jobs (default 100) whose results are generated
documents of S MiB each (default 50), and jobwatchd with a with_result hook
that deletes each file once it ran (so the disk holds at most the files in
flight). Prints the daemon's idle RSS (jobs watched, nothing fetched yet), its
peak RSS (VmHWM) over the whole run, the time taken and the throughput; exit
0 when the peak stays within --budget MiB (default 64) of the idle figure:
results are streamed to disk, never held in memory.

  python3 tests/bench/results_rss.py --build-dir build/bench-release [--jobs 100] [--mib 50]

Loopback only; bounded by --time-limit (default 600 s); every process it
starts is stopped on every exit path.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"results_rss: timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"results_rss: no {field} for pid {pid}")


def scrape(url, name):
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def measure(build_dir, jobs=100, mib=50, time_limit=600, keep=False):
    """Runs the benchmark; returns its figures (KiB, seconds) as a dict.
    Every process it starts is stopped, and its work directory removed
    (unless keep), on every exit path."""
    build = os.path.abspath(build_dir)
    jobwatchd = os.path.join(build, "src", "jobwatchd")
    fakeapi = os.path.join(build, "tests", "fakeapi", "fakeapi")
    work = tempfile.mkdtemp(prefix="jobwatch-results-bench-")
    procs = []
    try:
        size = mib * 1024 * 1024
        ids = [f"result-{i:04d}" for i in range(jobs)]
        with open(os.path.join(work, "scenario.yaml"), "w") as f:
            f.write("timeline_start: first_request\njobs:\n")
            for i in ids:
                # Processing for 3 s (the idle figure), then completed.
                f.write(f"  - {{id: {i}, result_bytes: {size}, timeline: "
                        "[{at: 0s, status: processing}, {at: 3s, status: COMPLETED}]}\n")
        with open(os.path.join(work, "jobs.yaml"), "w") as f:
            f.write("jobs:\n" + "".join(f"  - {i}\n" for i in ids))
        port_file = os.path.join(work, "port")
        fake_log = open(os.path.join(work, "fakeapi.log"), "w")
        procs.append(subprocess.Popen([fakeapi, "--scenario", os.path.join(work, "scenario.yaml"),
                                       "--listen", "127.0.0.1:0", "--port-file", port_file],
                                      stdout=fake_log, stderr=subprocess.STDOUT))
        wait_for(lambda: os.path.exists(port_file), 10, "the fake API")
        port = int(open(port_file).read())
        with open(os.path.join(work, "jobwatchd.yaml"), "w") as f:
            f.write(f"""\
api:
  base_url: http://127.0.0.1:{port}
  allow_insecure_http: true
  rate_limit: 0
  request_timeout: 120s
poll:
  interval: 500ms
  jitter: 0
watch:
  file: jobs.yaml
state:
  path: state.db
metrics:
  listen: 127.0.0.1:0
results:
  dir: {work}/results
  max_size: {mib + 1}MiB
hooks:
  max_concurrent: 8
  definitions:
    - name: consume
      on: [completed]
      with_result: true
      shell: 'rm -f "$JOBWATCH_RESULT_FILE"'
""")
        log_path = os.path.join(work, "jobwatchd.log")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "UNSILOED_API_KEY": "bench"}
        daemon = subprocess.Popen([jobwatchd, "--config", os.path.join(work, "jobwatchd.yaml")],
                                  stderr=open(log_path, "w"), stdout=subprocess.DEVNULL, env=env,
                                  cwd=work)
        procs.append(daemon)
        url = wait_for(lambda: next((l.split("url=", 1)[1].split()[0].strip('"')
                                     for l in open(log_path) if "metrics served" in l), None),
                       10, "the metrics endpoint")
        wait_for(lambda: scrape(url, 'jobwatch_requests_total{account="default",kind="status"}') >= jobs, 10,
                 "every job polled once")
        idle_kib = status_kib(daemon.pid, "VmRSS")
        started = time.monotonic()
        wait_for(lambda: scrape(url, 'jobwatch_result_fetches_total{account="default",result="ok"}') >= jobs,
                 time_limit, f"{jobs} results fetched", interval=0.2)
        wait_for(lambda: scrape(url, "jobwatch_hooks_pending") == 0, 60, "the hooks")
        elapsed = time.monotonic() - started
        peak_kib = status_kib(daemon.pid, "VmHWM")
        end_kib = status_kib(daemon.pid, "VmRSS")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        return {"jobs": jobs, "mib": mib, "elapsed": elapsed, "idle_kib": idle_kib,
                "peak_kib": peak_kib, "end_kib": end_kib}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if keep:
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--mib", type=int, default=50, help="size of each result")
    ap.add_argument("--budget", type=int, default=64, help="MiB over idle allowed at peak")
    ap.add_argument("--time-limit", type=int, default=600)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    r = measure(args.build_dir, args.jobs, args.mib, args.time_limit, args.keep)
    total_mib = r["jobs"] * r["mib"]
    over = (r["peak_kib"] - r["idle_kib"]) / 1024
    print(f"results fetched      {r['jobs']} x {r['mib']} MiB = {total_mib} MiB "
          f"in {r['elapsed']:.1f} s ({total_mib / r['elapsed']:.0f} MiB/s)")
    print(f"daemon RSS idle      {r['idle_kib'] / 1024:.1f} MiB")
    print(f"daemon RSS peak      {r['peak_kib'] / 1024:.1f} MiB (VmHWM; +{over:.1f} MiB over idle, "
          f"budget {args.budget} MiB)")
    print(f"daemon RSS at end    {r['end_kib'] / 1024:.1f} MiB")
    ok = over <= args.budget
    print("results_rss:", "PASS" if ok else "FAIL")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
