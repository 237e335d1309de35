# SPDX-License-Identifier: Apache-2.0
"""Resource bounds under load (issue: Reliability): 20,000 jobs polled fast
(interval 1 s, no rate limit) against the fake API acting out a mix of
faults, 5,000 of them completing and each running a hook.

Sampled every few seconds: the daemon's RSS, open file descriptors (by kind)
and threads, its zombie children, polls and hook runs so far. After a
warm-up of 30 s:

- RSS stays flat: it grows by at most max(20 MiB, 10 %) over the sample
  taken at the end of the warm-up. Everything the daemon needs per job is
  allocated while the jobs are first seen (warm-up); later growth comes only
  from bounded caches that fill lazily: SQLite's page cache, glibc's
  per-thread malloc arenas, the exposer's buffers for a 20,000-series
  scrape, curl's per-connection buffers. A leak of even 100 bytes per poll
  at the measured poll rate (thousands per second) would exceed the margin
  within the soak, so the margin hides no leak that matters.
- File descriptors other than sockets (pipes, pidfds, files, eventfds) are
  the same +-5 at the end of the warm-up and once every hook has finished:
  hook runs leave nothing behind. Sockets are bounded by the connection
  limit (they churn as the fake API resets and closes connections).
- Threads do not grow.
- No zombie child remains once every hook has run (children of the daemon
  in state Z).

Soak length: JOBWATCH_SOAK_SECONDS (default 120, including the warm-up).
ctest gives the test 300 s; for longer soaks run this file directly.
"""
import os
import sys
import time
import unittest

from harness import DaemonTestCase, wait_for

SOAK_S = float(os.environ.get("JOBWATCH_SOAK_SECONDS", "120"))
WARMUP_S = 30.0
SAMPLE_EVERY_S = 5.0
MAX_CONNECTIONS = 64
HOOK_GROUPS = 5
HOOK_GROUP_SIZE = 1000

# prefix -> (count, scenario keys for `generate`)
MIX = {
    "res-ok-": (9180, "status: PROCESSING"),
    "res-500-": (2000, "status: PROCESSING, faults: [{kind: http, code: 500}]"),
    "res-trunc-": (1500, "status: PROCESSING, faults: [{kind: truncated}]"),
    "res-reset-": (1000, "status: PROCESSING, faults: [{kind: reset}]"),
    "res-slow-": (1000, "status: PROCESSING, faults: [{kind: delay, ms: 300}]"),
    "res-hang-": (20, "status: PROCESSING, faults: [{kind: hang}]"),
    "res-large-": (100, "status: PROCESSING, faults: [{kind: large, bytes: 1500000}]"),
}
UNKNOWN = ("res-gone-", 200)  # not in the fake API: 404 -> not_found


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def fd_kinds(pid):
    kinds = {"socket": 0, "pipe": 0, "other": 0}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue  # closed meanwhile
        kind = "socket" if target.startswith("socket:") else \
            "pipe" if target.startswith("pipe:") else "other"
        kinds[kind] += 1
    return kinds


def zombie_children(pid):
    zombies = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            zombies += 1
    return zombies


class ResourceTest(DaemonTestCase):
    def test_twenty_thousand_jobs_under_faults_stay_within_bounds(self):
        lines = ["jobs: []", "generate:"]
        ids = []
        for prefix, (count, keys) in MIX.items():
            lines.append(f"  - {{prefix: {prefix}, count: {count}, {keys}}}")
            ids += [f"{prefix}{i}" for i in range(count)]
        # 5 x 1,000 jobs complete at spread times after warm-up (each job's
        # clock starts at its first poll).
        first = WARMUP_S + 5
        last = max(first, SOAK_S - 25)
        for g in range(HOOK_GROUPS):
            at = first + (last - first) * g / max(1, HOOK_GROUPS - 1)
            prefix = f"res-done{g}-"
            lines.append(f"  - {{prefix: {prefix}, count: {HOOK_GROUP_SIZE}, timeline: "
                         f"[{{at: 0s, status: PROCESSING}}, {{at: {int(at * 1000)}ms, "
                         f"status: COMPLETED}}]}}")
            ids += [f"{prefix}{i}" for i in range(HOOK_GROUP_SIZE)]
        ids += [f"{UNKNOWN[0]}{i}" for i in range(UNKNOWN[1])]
        # Everyone paused by a 503 + Retry-After once, mid-soak.
        pause_at = int(WARMUP_S + 12)
        lines.append("faults:")
        lines.append(f"  - {{kind: http, code: 503, retry_after: '2', from: {pause_at}s, "
                     f"until: {pause_at + 1}s}}")
        self.assertEqual(len(ids), 20000)
        self.start_fake("timeline_start: first_request\n" + "\n".join(lines) + "\n")
        config = self.write_config(
            ids,
            api={"request_timeout": "2s", "max_concurrent_requests": str(MAX_CONNECTIONS)},
            poll={"interval": "1s", "jitter": "0.1", "backoff_max": "5s"},
            log_level="info",
            extra="""\
                hooks:
                  max_concurrent: 8
                  definitions:
                    - name: done
                      on: [completed]
                      command: ["/bin/true"]
                      timeout: 10s
                      retries: 0
                """)
        d = self.start_daemon(config)
        pid = d.proc.pid
        started = time.monotonic()
        d.wait_log("metrics served", timeout=60)

        samples = []
        hooks_total = HOOK_GROUPS * HOOK_GROUP_SIZE

        def sample():
            st = proc_status(pid)
            kinds = fd_kinds(pid)
            m = self.metrics(d)
            row = {
                "t": time.monotonic() - started,
                "rss_mb": int(st["VmRSS"].split()[0]) / 1024,
                "fds": sum(kinds.values()),
                "sockets": kinds["socket"],
                "pipes": kinds["pipe"],
                "other_fds": kinds["other"],
                "threads": int(st["Threads"]),
                "zombies": zombie_children(pid),
                "polls": int(sum(v for k, v in m.items() if k.startswith("jobwatch_polls_total"))),
                "hooks": int(m.get('jobwatch_hook_runs_total{hook="done",result="success"}', 0)),
                "hooks_running": int(m.get("jobwatch_hooks_pending", 0)),
            }
            samples.append(row)
            return row

        # The measured soak: sample, and check the daemon stays up.
        while time.monotonic() - started < SOAK_S:
            self.assertTrue(d.alive(), d.text()[-3000:])
            sample()
            time.sleep(max(0.0, SAMPLE_EVERY_S - (time.monotonic() - started) % SAMPLE_EVERY_S))
        wait_for(lambda: sample()["hooks"] >= hooks_total and samples[-1]["hooks_running"] == 0,
                 timeout=60, interval=1.0, what=f"{hooks_total} hook runs")
        # Quiet for hooks now: compare against the end of the warm-up.
        end = sample()
        self.assertTrue(d.alive())
        m = self.metrics(d)
        self.assertEqual(d.stop(), 0)

        self.print_samples(samples)
        base = next(s for s in samples if s["t"] >= WARMUP_S)
        after = [s for s in samples if s["t"] >= WARMUP_S]
        peak_rss = max(s["rss_mb"] for s in after)
        margin = max(20.0, base["rss_mb"] * 0.10)
        polls_measured = end["polls"] - base["polls"]
        rate = polls_measured / max(1e-9, end["t"] - base["t"])
        print(f"\nafter warm-up: RSS {base['rss_mb']:.1f} -> peak {peak_rss:.1f} MiB "
              f"(margin {margin:.1f}); {polls_measured} polls ({rate:.0f}/s); "
              f"{end['hooks']} hooks", file=sys.stderr)

        self.assertLessEqual(peak_rss - base["rss_mb"], margin, "RSS grows after warm-up")
        self.assertLessEqual(abs((end["pipes"] + end["other_fds"]) -
                                 (base["pipes"] + base["other_fds"])), 5,
                             "non-socket fds (pipes, pidfds, files) leak")
        for s in after:
            # Children that exited an instant ago and are being reaped: at
            # most one per hook slot.
            self.assertLessEqual(s["zombies"], 8, s)
            self.assertLessEqual(s["sockets"], MAX_CONNECTIONS + 8, s)
            self.assertLessEqual(s["threads"], base["threads"], s)
        self.assertEqual(end["zombies"], 0, "zombie children after the hooks ran")
        self.assertEqual(end["hooks"], hooks_total)
        self.assertEqual(m.get('jobwatch_hook_runs_total{hook="done",result="failure"}', 0), 0)
        self.assertEqual(m.get('jobwatch_jobs{status="completed"}'), hooks_total)
        self.assertEqual(m.get('jobwatch_jobs{status="not_found"}'), UNKNOWN[1])
        self.assertGreater(rate, 1000, "polled fast (interval 1 s, no rate limit)")
        for label in ("ok", "http_error", "parse_error", "network_error", "timeout",
                      "rate_limited", "not_found"):
            self.assertGreater(m.get(f'jobwatch_polls_total{{account="default",result="{label}"}}', 0), 0, label)

    def metrics(self, d):
        out = {}
        for line in d.scrape().splitlines():
            if line.startswith("jobwatch_") and not line.startswith("jobwatch_job_status") and \
                    not line.startswith("jobwatch_job_added"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def print_samples(self, samples):
        cols = ["t", "rss_mb", "fds", "sockets", "pipes", "other_fds", "threads", "zombies",
                "polls", "hooks"]
        print("\n" + "  ".join(f"{c:>9}" for c in cols), file=sys.stderr)
        for s in samples:
            print("  ".join(f"{s[c]:>9.1f}" if isinstance(s[c], float) else f"{s[c]:>9}"
                            for c in cols), file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
