#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What users write instead of jobwatchd: `requests` on a ThreadPoolExecutor.

One pass over every job ID (GET /jobs/{id}, a kept-alive requests.Session
per worker thread, status read from the JSON), as a cron script or a
notebook would poll them. Prints one JSON line: polls, errors, seconds.

Run with Debian's interpreter (python3-requests): /usr/bin/python3.
"""
import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    args = ap.parse_args()

    local = threading.local()
    deadline = time.monotonic() + args.max_seconds
    errors = 0
    errors_mu = threading.Lock()

    def poll(job_id):
        nonlocal errors
        if time.monotonic() > deadline:
            return None  # bounded: the rest of the pass is skipped
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["X-API-Key"] = "bench-key"
        try:
            r = session.get(f"{args.base_url}/jobs/{job_id}", timeout=10)
            r.raise_for_status()
            return r.json()["status"]
        except (requests.RequestException, ValueError, KeyError):
            with errors_mu:
                errors += 1
            return None

    ids = [f"{args.prefix}{i}" for i in range(args.count)]
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        statuses = list(pool.map(poll, ids))
    seconds = time.monotonic() - start
    polls = sum(1 for s in statuses if s is not None)
    print(json.dumps({"polls": polls, "errors": errors, "seconds": seconds}))


if __name__ == "__main__":
    main()
