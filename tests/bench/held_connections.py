#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What a Prometheus scrape sees while clients hold connections to the
metrics port (issue 18): starts jobwatchd (with 1,000 jobs) and the fake API
on loopback, opens N connections that send nothing and holds them (each
reopened when the server drops it), and times scrapes meanwhile. Prints one
row per N. Bounded: each phase lasts `--seconds`.

  python3 tests/bench/held_connections.py --build-dir build/dev [--held 0,50,300]
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))


def holder(host, port, count, stop):
    socks = []
    while not stop.is_set():
        while len(socks) < count and not stop.is_set():
            try:
                s = socket.create_connection((host, port), timeout=2)
                socks.append(s)
            except OSError:
                time.sleep(0.01)
        # Drop the ones the server closed, so the pressure stays at `count`.
        alive = []
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        socks = alive
        time.sleep(0.05)
    for s in socks:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--held", default="0,50,300")
    ap.add_argument("--seconds", type=float, default=15)
    args = ap.parse_args()
    os.environ.setdefault("JOBWATCHD_BIN", os.path.join(args.build_dir, "src", "jobwatchd"))
    os.environ.setdefault("FAKEAPI_BIN", os.path.join(args.build_dir, "tests", "fakeapi", "fakeapi"))
    from harness import Daemon, FakeApi, daemon_env  # noqa: E402

    with tempfile.TemporaryDirectory(prefix="jobwatch-held-") as work:
        fake = FakeApi(work, "generate:\n  - {prefix: h-, count: 1000, status: PROCESSING}\n")
        with open(os.path.join(work, "jobs.yaml"), "w") as f:
            f.write("jobs:\n" + "".join(f"  - h-{i}\n" for i in range(1000)))
        config = os.path.join(work, "jobwatchd.yaml")
        with open(config, "w") as f:
            f.write(f"api:\n  base_url: {fake.base_url}\n  allow_insecure_http: true\n"
                    "  rate_limit: 0\npoll:\n  interval: 1s\nwatch:\n  file: jobs.yaml\n"
                    "state:\n  path: state.db\nmetrics:\n  listen: 127.0.0.1:0\n")
        d = Daemon(work, config, env=daemon_env())
        try:
            url = d.metrics_url()
            host, port = url.split("//")[1].split("/")[0].split(":")
            print(f"{'held':>6} {'scrapes':>8} {'ok':>4} {'p50 s':>7} {'max s':>7}  polls/s")
            for held in [int(x) for x in args.held.split(",")]:
                stop = threading.Event()
                t = threading.Thread(target=holder, args=(host, int(port), held, stop))
                t.start()
                time.sleep(1)  # let the connections be made
                polls0 = fake.admin("GET", "/_admin/requests")["total"]
                t0 = time.monotonic()
                times, ok = [], 0
                while time.monotonic() - t0 < args.seconds:
                    s0 = time.monotonic()
                    try:
                        with urllib.request.urlopen(url, timeout=args.seconds) as r:
                            r.read()
                        ok += 1
                    except OSError:
                        pass
                    times.append(time.monotonic() - s0)
                polls = (fake.admin("GET", "/_admin/requests")["total"] - polls0) / (
                    time.monotonic() - t0)
                stop.set()
                t.join()
                times.sort()
                print(f"{held:>6} {len(times):>8} {ok:>4} {times[len(times) // 2]:>7.3f} "
                      f"{times[-1]:>7.3f}  {polls:.0f}")
        finally:
            d.stop()
            fake.stop()


if __name__ == "__main__":
    main()
