#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Failover time of a fleet (SPEC "High availability (PostgreSQL)"): three
real jobwatchd instances on a real PostgreSQL 15 (its own server in a
temporary directory, tests/tools/postgres-server.sh) share --jobs
never-finishing jobs of the fake API. Then, for each --lease:

  kill:    one instance is SIGKILLed and not restarted (a machine lost);
  restart: one instance is SIGKILLed and started again at once (a crash
           that systemd restarts).

Failover time: from the kill to the moment each of the victim's jobs is
polled again (the fake API's request times), by whichever instance; the
figures are the median and the maximum over the victim's jobs. Polls are
every --interval; the fleet's share of the key is unlimited here, so the
figure is the takeover itself (lease, tick) plus at most one interval.

    python3 tests/bench/failover.py --build-dir build/dev [--lease 6 --lease 30]

Exit status: 0 when every round completed; 1 on a harness failure (a
victim's job never polled again within 3 leases); 2 usage.
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
PG_SERVER = os.path.join(HERE, "..", "tools", "postgres-server.sh")


def psql(url, sql):
    return subprocess.run(["psql", "-X", "-q", "-t", "-A", url, "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def held(url):
    try:
        return int(psql(url, "SELECT count(*) FROM jobs WHERE owner IS NOT NULL"))
    except subprocess.CalledProcessError:  # no schema yet
        return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default="build/dev")
    ap.add_argument("--jobs", type=int, default=300)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--lease", type=int, action="append")
    args = ap.parse_args()
    leases = args.lease or [6, 30]
    os.environ.setdefault("JOBWATCHD_BIN", os.path.join(args.build_dir, "src", "jobwatchd"))
    os.environ.setdefault("FAKEAPI_BIN", os.path.join(args.build_dir, "tests", "fakeapi", "fakeapi"))
    import harness  # after the binaries are set

    print(f"failover: 3 instances, {args.jobs} jobs, poll.interval {args.interval:g}s")
    print(f"{'lease':>6} {'case':>8} {'jobs':>5} {'median s':>9} {'max s':>7}")
    ok = True
    for lease in leases:
        for case in ("kill", "restart"):
            result = run_round(harness, args, lease, case)
            if result is None:
                ok = False
                print(f"{lease:>5}s {case:>8}  FAILED")
                continue
            n, med, worst = result
            print(f"{lease:>5}s {case:>8} {n:>5} {med:>9.1f} {worst:>7.1f}", flush=True)
    return 0 if ok else 1


def run_round(harness, args, lease, case):
    with tempfile.TemporaryDirectory(prefix="jobwatch-failover-") as work:
        os.chmod(work, 0o755)
        pg_dir = os.path.join(work, "pg")
        subprocess.run(["bash", PG_SERVER, "start", pg_dir], check=True, stdout=subprocess.DEVNULL)
        try:
            return measure(harness, args, work, pg_dir, lease, case)
        finally:
            subprocess.run(["bash", PG_SERVER, "stop", pg_dir], stdout=subprocess.DEVNULL)


def measure(harness, args, work, pg_dir, lease, case):
    url = open(os.path.join(pg_dir, "url")).read().strip()
    fake = harness.FakeApi(work, f"api_key: {harness.TEST_KEY}\ngenerate:\n"
                                 f"  - {{prefix: fo-, count: {args.jobs}, status: PROCESSING}}\n")
    with open(os.path.join(work, "jobs.yaml"), "w") as f:
        f.write("jobs:\n" + "".join(f"  - fo-{i}\n" for i in range(args.jobs)))
    url_file = os.path.join(work, "pg.url")
    with open(url_file, "w") as f:
        f.write(url + "\n")
    daemons = {}
    configs = {}
    for name in "abc":
        configs[name] = os.path.join(work, f"{name}.yaml")
        with open(configs[name], "w") as f:
            f.write(f"""api:
  base_url: {fake.base_url}
  allow_insecure_http: true
  request_timeout: 2s
  rate_limit: 0
poll:
  interval: {args.interval}s
  jitter: 0
  strategy: round_robin
watch:
  file: {os.path.join(work, 'jobs.yaml')}
state:
  backend: postgresql
  url_file: {url_file}
  instance: {name}
  lease: {lease}s
metrics:
  listen: 127.0.0.1:0
control:
  socket: {os.path.join(work, name + '.sock')}
""")
    start = lambda n, tag="": harness.Daemon(work, configs[n], env=harness.daemon_env(),
                                             name=f"{n}{tag}")
    try:
        for name in "abc":
            daemons[name] = start(name)
        harness.wait_for(lambda: held(url) == args.jobs, timeout=60, what="every job held")
        time.sleep(2 * args.interval)  # settled: every held job polled
        victim = psql(url, "SELECT owner FROM jobs GROUP BY owner ORDER BY count(*) DESC LIMIT 1")
        name = psql(url, f"SELECT instance FROM instances WHERE incarnation = '{victim}'")
        theirs = psql(url, f"SELECT id FROM jobs WHERE owner = '{victim}'").split()
        killed = time.time()
        daemons[name].proc.kill()
        daemons[name].proc.wait()
        if case == "restart":
            daemons[name] = start(name, "-again")
        deadline = time.monotonic() + 3 * lease + 10
        delays = {}
        while time.monotonic() < deadline and len(delays) < len(theirs):
            time.sleep(0.5)
            jobs = fake.admin("GET", "/_admin/requests")["jobs"]
            for job in theirs:
                if job in delays:
                    continue
                after = [t for t in jobs.get(job, {}).get("times", []) if t > killed]
                if after:
                    delays[job] = min(after) - killed
        if len(delays) < len(theirs):
            print(f"  {len(theirs) - len(delays)} of {len(theirs)} jobs of {name} not polled "
                  f"again; logs in {work}", file=sys.stderr)
            if os.environ.get("KEEP_TMP"):
                time.sleep(60)
            return None
        values = list(delays.values())
        return len(values), statistics.median(values), max(values)
    finally:
        for d in daemons.values():
            if d.alive():
                d.stop(signal.SIGKILL)
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
