# SPDX-License-Identifier: Apache-2.0
"""Results with the real daemon (issue: Results): a with_result hook runs
once the job's result is on disk, gets exactly the bytes the API served, one
fetch per job whatever the number of hooks, durable across a SIGKILL
mid-download, given up after results.give_up_after, capped at
results.max_size without the daemon's memory growing."""
import os
import signal
import sqlite3
import stat
import subprocess
import unittest

from harness import DaemonTestCase, JOBWATCHD, TEST_KEY, daemon_env, wait_for

# Records each run (journal line, environment) and copies the result file.
RESULT_HOOK = """#!/bin/sh
dir="$1"
run="$JOBWATCH_EVENT_ID.$JOBWATCH_HOOK.$JOBWATCH_ATTEMPT"
env > "$dir/env.$run"
if [ -n "$JOBWATCH_RESULT_FILE" ]; then cp "$JOBWATCH_RESULT_FILE" "$dir/result.$run"; fi
echo "done $JOBWATCH_EVENT_ID $JOBWATCH_HOOK $JOBWATCH_ATTEMPT" >> "$dir/journal"
"""


def generated_result(job_id, total):
    """The fake API's generated result (tests/fakeapi/README.md)."""
    head = b'{"job_id":"' + job_id.encode() + b'","data":"'
    tail = b'"}'
    fill = total - len(head) - len(tail)
    alphabet = bytes(range(ord("a"), ord("z") + 1))
    return head + (alphabet * (fill // 26 + 1))[:fill] + tail


def proc_status(pid, field):
    """A /proc/PID/status figure in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


class ResultTestCase(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.hookdir = os.path.join(self.dir, "hookdata")
        os.mkdir(self.hookdir)
        self.results = os.path.join(self.dir, "results")
        self.hook = self.write("hook.sh", RESULT_HOOK)
        os.chmod(self.hook, 0o755)

    def config(self, jobs, hooks=("fetch",), plain_hooks=(), results="", api=None, state=""):
        lines = ["hooks:", "  definitions:"]
        for name, with_result in [(h, True) for h in hooks] + [(h, False) for h in plain_hooks]:
            lines += [f"    - name: {name}",
                      "      on: [completed]",
                      f'      command: ["{self.hook}", "{self.hookdir}"]',
                      f"      with_result: {'true' if with_result else 'false'}"]
        lines += ["results:", f"  dir: {self.results}"]
        lines += [f"  {line}" for line in results.splitlines() if line.strip()]
        config = self.write_config(jobs, api=api, extra="\n".join(lines) + "\n")
        if state:
            with open(config) as f:
                text = f.read().replace("state:\n  path: state.db\n",
                                        "state:\n  path: state.db\n" + state)
            with open(config, "w") as f:
                f.write(text)
        return config

    def journal(self):
        path = os.path.join(self.hookdir, "journal")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f if line.strip()]

    def env_of(self, job_id, hook="fetch", attempt=1):
        path = os.path.join(self.hookdir, f"env.{job_id}:completed.{hook}.{attempt}")
        with open(path) as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)

    def result_dir_names(self):
        return sorted(os.listdir(self.results)) if os.path.isdir(self.results) else []

    def ledger(self):
        db = sqlite3.connect(os.path.join(self.dir, "state.db"), timeout=10)
        try:
            runs = db.execute("SELECT job_id, hook, state, attempts FROM hook_runs "
                              "ORDER BY job_id, hook").fetchall()
            results = db.execute("SELECT job_id, state, error FROM results "
                                 "ORDER BY job_id").fetchall()
            return runs, results
        finally:
            db.close()


class ResultDeliveryTest(ResultTestCase):
    def test_hook_gets_exactly_the_bytes_served_after_409s(self):
        size = 300_000
        fake = self.start_fake(f"""
            api_key: {TEST_KEY}
            jobs:
              - id: job-r
                result_bytes: {size}
                timeline: [{{at: 0s, status: processing}}, {{at: 300ms, status: COMPLETED}}]
                faults: [{{kind: http, code: 409, count: 2, endpoint: result}}]
            """)
        d = self.start_daemon(self.config(["job-r"]))
        wait_for(lambda: len(self.journal()) >= 1, timeout=20, what="the hook")
        env = self.env_of("job-r")
        final = os.path.join(self.results, "job-r.json")
        self.assertEqual(env["JOBWATCH_RESULT_FILE"], final)
        self.assertNotIn("JOBWATCH_RESULT_ERROR", env)
        with open(os.path.join(self.hookdir, "result.job-r:completed.fetch.1"), "rb") as f:
            self.assertEqual(f.read(), generated_result("job-r", size))
        self.assertEqual(stat.S_IMODE(os.stat(final).st_mode), 0o640)
        self.assertEqual(self.result_dir_names(), ["job-r.json"], "no temporary file left")
        self.assertEqual(fake.requests_for("job-r")["result_count"], 3, "two 409s, then 200")
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="not_ready"}'), 2)
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="ok"}'), 1)
        self.assertEqual(d.metric('jobwatch_requests_total{account="default",kind="result"}'), 3)
        self.assertGreaterEqual(d.metric('jobwatch_requests_total{account="default",kind="status"}'), 2)
        self.assertEqual(d.stop(), 0)

    def test_three_hooks_one_fetch_and_plain_hooks_do_not_wait(self):
        fake = self.start_fake("""
            jobs:
              - {id: job-3, status: COMPLETED, result_bytes: 5000}
            """)
        d = self.start_daemon(self.config(["job-3"], hooks=("a", "b", "c"), plain_hooks=("p",)))
        wait_for(lambda: len(self.journal()) >= 4, timeout=20, what="four hook runs")
        self.assertEqual(fake.requests_for("job-3")["result_count"], 1)
        expected = generated_result("job-3", 5000)
        for hook in ("a", "b", "c"):
            with open(os.path.join(self.hookdir, f"result.job-3:completed.{hook}.1"), "rb") as f:
                self.assertEqual(f.read(), expected)
        plain = self.env_of("job-3", hook="p")
        self.assertNotIn("JOBWATCH_RESULT_FILE", plain)
        self.assertNotIn("JOBWATCH_RESULT_ERROR", plain)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(len(self.journal()), 4)
        self.assertEqual(fake.requests_for("job-3")["result_count"], 1)

    def test_result_is_deleted_when_the_job_is_forgotten(self):
        self.start_fake("jobs: [{id: job-f, status: COMPLETED}]")
        d = self.start_daemon(self.config(["job-f"], state="  forget_after: 2s\n"))
        wait_for(lambda: len(self.journal()) >= 1, timeout=20, what="the hook")
        d.wait_log("forgot finished jobs", timeout=20)
        wait_for(lambda: self.result_dir_names() == [], what="the result file to go")
        self.assertEqual(self.ledger()[1], [], "its results row goes too")
        self.assertEqual(d.stop(), 0)


class ResultDurabilityTest(ResultTestCase):
    def test_sigkill_mid_download_leaves_no_partial_file_and_runs_once_after_restart(self):
        size = 3 * 1024 * 1024
        fake = self.start_fake(f"""
            jobs:
              - {{id: job-k, status: COMPLETED, result_bytes: {size}, result_rate: 1000000}}
            """)
        config = self.config(["job-k"], api={"request_timeout": "30s"})
        d = self.start_daemon(config)

        def temp_files():
            return [n for n in self.result_dir_names() if n.endswith(".tmp")]
        tmp = wait_for(temp_files, timeout=20, what="the download to start")
        wait_for(lambda: os.path.getsize(os.path.join(self.results, tmp[0])) > 100_000,
                 what="part of the result on disk")
        d.stop(signal.SIGKILL)
        self.assertNotIn("job-k.json", self.result_dir_names(), "no file under the final name")
        self.assertEqual(self.journal(), [], "the hook waits for its result")
        runs, results = self.ledger()
        self.assertEqual(runs, [("job-k", "fetch", 0, 0)])
        self.assertEqual(results, [("job-k", 0, "")])

        d2 = self.start_daemon(config, name="restarted")
        wait_for(lambda: len(self.journal()) >= 1, timeout=30, what="the hook after restart")
        self.assertEqual(self.result_dir_names(), ["job-k.json"], "the stale temp file is gone")
        with open(os.path.join(self.hookdir, "result.job-k:completed.fetch.1"), "rb") as f:
            self.assertEqual(f.read(), generated_result("job-k", size))
        self.assertEqual(d2.stop(), 0)
        self.assertEqual(len(self.journal()), 1)
        self.assertEqual(self.ledger()[0], [("job-k", "fetch", 2, 1)])
        self.assertEqual(fake.requests_for("job-k")["result_count"], 2)


class ResultFailureTest(ResultTestCase):
    def test_result_endpoint_down_past_give_up_after_runs_the_hook_once_with_the_error(self):
        fake = self.start_fake("""
            jobs:
              - id: job-down
                status: COMPLETED
                faults: [{kind: http, code: 500, endpoint: result}]
            """)
        d = self.start_daemon(self.config(["job-down"], results="give_up_after: 2s"))
        wait_for(lambda: len(self.journal()) >= 1, timeout=20, what="the hook")
        env = self.env_of("job-down")
        self.assertNotIn("JOBWATCH_RESULT_FILE", env)
        self.assertIn("HTTP 500", env["JOBWATCH_RESULT_ERROR"])
        self.assertGreaterEqual(fake.requests_for("job-down")["result_count"], 2, "retried")
        self.assertEqual(d.metric('jobwatch_jobs{status="completed"}'), 1, "status unchanged")
        self.assertGreaterEqual(d.metric('jobwatch_result_fetches_total{account="default",result="http_error"}'), 2)
        self.assertEqual(d.stop(), 0)
        runs, results = self.ledger()
        self.assertEqual(runs, [("job-down", "fetch", 2, 1)], "ran once, succeeded")
        self.assertEqual(results[0][:2], ("job-down", 2))
        self.assertEqual(len(self.journal()), 1)
        self.assertEqual(self.result_dir_names(), [])

    def test_result_over_max_size_is_an_error_and_memory_stays_flat(self):
        self.check_over_max_size(chunked=False)  # refused from its Content-Length

    def test_streamed_result_over_max_size_is_cut_at_the_cap_and_memory_stays_flat(self):
        self.check_over_max_size(chunked=True)  # no Content-Length: 64 MiB read, then cut

    def check_over_max_size(self, chunked):
        size = 100 * 1024 * 1024
        self.start_fake(f"""
            jobs:
              - id: job-big
                result_bytes: {size}
                result_chunked: {"true" if chunked else "false"}
                timeline: [{{at: 0s, status: processing}}, {{at: 1s, status: COMPLETED}}]
            """)
        d = self.start_daemon(self.config(["job-big"], results="max_size: 64MiB",
                                          api={"request_timeout": "60s"}))
        wait_for(lambda: d.metric('jobwatch_requests_total{account="default",kind="status"}'), what="a first poll")
        baseline_kib = proc_status(d.proc.pid, "VmRSS")
        wait_for(lambda: len(self.journal()) >= 1, timeout=60, what="the hook")
        env = self.env_of("job-big")
        self.assertIn("results.max_size", env["JOBWATCH_RESULT_ERROR"])
        self.assertNotIn("JOBWATCH_RESULT_FILE", env)
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="too_large"}'), 1)
        peak_kib = proc_status(d.proc.pid, "VmHWM")
        self.assertLess(peak_kib - baseline_kib, 16 * 1024,
                        f"peak RSS {peak_kib} KiB vs {baseline_kib} KiB before the fetch")
        self.assertEqual(self.result_dir_names(), [], "no truncated file")
        self.assertEqual(d.stop(), 0)


def cli(config, *args):
    return subprocess.run([JOBWATCHD, *args, "--config", config], capture_output=True,
                          text=True, timeout=60, env=daemon_env())


class ResultForgetTest(ResultTestCase):
    """`jobwatchd forget ID` forgets a job's result like state.forget_after:
    its file is deleted and a fetch still pending is dropped."""

    def drop_config(self):
        self.drop = os.path.join(self.dir, "drop")
        os.mkdir(self.drop)
        self.sock = os.path.join(self.dir, "control.sock")
        config = self.config(["job-w"])
        with open(config) as f:
            text = f.read().replace("watch:\n  file: jobs.yaml\n",
                                    f"watch:\n  file: jobs.yaml\n  drop_dir: {self.drop}\n"
                                    f"control:\n  socket: {self.sock}\n")
        with open(config, "w") as f:
            f.write(text)
        return config

    def start_with_drop(self, config):
        d = self.start_daemon(config)
        d.wait_log("control socket ready")
        return d

    def test_forget_deletes_a_done_result(self):
        self.start_fake("""
            jobs:
              - {id: job-w, status: PROCESSING}
              - {id: job-fd, status: COMPLETED, result_bytes: 2000}
            """)
        config = self.drop_config()
        d = self.start_with_drop(config)
        r = cli(config, "add", "job-fd")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_for(lambda: len(self.journal()) >= 1, timeout=20, what="the hook")
        self.assertEqual(self.result_dir_names(), ["job-fd.json"])
        r = cli(config, "forget", "job-fd")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.result_dir_names(), [], "the result goes with its job")
        self.assertEqual(self.ledger()[1], [], "its results row goes too")
        self.assertEqual(d.stop(), 0)

    def test_forget_drops_a_pending_fetch(self):
        fake = self.start_fake("""
            jobs:
              - {id: job-w, status: PROCESSING}
              - id: job-fp
                status: COMPLETED
                faults: [{kind: http, code: 409, endpoint: result}]
            """)
        config = self.drop_config()
        d = self.start_with_drop(config)
        r = cli(config, "add", "job-fp")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        wait_for(lambda: fake.requests_for("job-fp")["result_count"] >= 2, timeout=20,
                 what="the result fetch retried (409)")
        r = cli(config, "forget", "job-fp")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        fake.admin("DELETE", "/_admin/faults")  # the result is there now
        fetched = fake.requests_for("job-fp")["result_count"]
        # The watched job's polls (every 200 ms) measure time: 10 of them
        # are 10 chances the pending fetch (retried every 200 ms) had.
        polls = fake.requests_for("job-w")["count"]
        wait_for(lambda: fake.requests_for("job-w")["count"] >= polls + 10, timeout=20,
                 what="ten more polls")
        self.assertEqual(self.result_dir_names(), [], "no result file appears")
        # At most the one fetch that was on its way when it was forgotten.
        self.assertLessEqual(fake.requests_for("job-fp")["result_count"], fetched + 1)
        # Its waiting hook run is not lost: it runs without a file (its
        # result row went with the job), never with a file of a forgotten job.
        for run in self.journal():
            self.assertNotIn("JOBWATCH_RESULT_FILE", self.env_of("job-fp", attempt=int(run[3])))
        self.assertEqual(d.stop(), 0)


class ResultTimingTest(ResultTestCase):
    """api.request_timeout (2 s here) does not cap a download that moves;
    one that stalls for request_timeout is a timeout, retried."""

    def test_a_slow_steady_download_longer_than_request_timeout_completes(self):
        size = 40_000
        fake = self.start_fake(f"""
            jobs:
              - {{id: job-slow, status: COMPLETED, result_bytes: {size}, result_rate: 10000}}
            """)
        d = self.start_daemon(self.config(["job-slow"]))
        wait_for(lambda: len(self.journal()) >= 1, timeout=30, what="the hook")
        env = self.env_of("job-slow")
        self.assertNotIn("JOBWATCH_RESULT_ERROR", env)
        with open(os.path.join(self.hookdir, "result.job-slow:completed.fetch.1"), "rb") as f:
            self.assertEqual(f.read(), generated_result("job-slow", size))
        self.assertEqual(fake.requests_for("job-slow")["result_count"], 1, "one 4 s download")
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="timeout"}'), 0)
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="ok"}'), 1)
        self.assertEqual(d.stop(), 0)

    def test_a_stalled_download_times_out_and_is_retried(self):
        fake = self.start_fake("""
            jobs:
              - id: job-stall
                status: COMPLETED
                result_bytes: 1000
                faults: [{kind: hang, count: 1, endpoint: result}]
            """)
        d = self.start_daemon(self.config(["job-stall"]))
        wait_for(lambda: len(self.journal()) >= 1, timeout=30, what="the hook")
        self.assertNotIn("JOBWATCH_RESULT_ERROR", self.env_of("job-stall"))
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="timeout"}'), 1)
        self.assertEqual(d.metric('jobwatch_result_fetches_total{account="default",result="ok"}'), 1)
        times = fake.requests_for("job-stall")["times"]
        self.assertEqual(fake.requests_for("job-stall")["result_count"], 2)
        # The hung fetch was given up after about request_timeout (2 s).
        self.assertGreaterEqual(times[-1] - times[-2], 1.9)
        self.assertLess(times[-1] - times[-2], 10)
        self.assertEqual(d.stop(), 0)


class ResultEndpointFaultTest(ResultTestCase):
    """The result endpoint's failures end to end: each is counted, retried
    (or paused for), and the result then arrives whole."""

    def metric(self, d, result):
        return d.metric(f'jobwatch_result_fetches_total{{account="default",result="{result}"}}')

    def run_until_delivered(self, job_id, fault, extra_jobs="", jobs=None):
        fake = self.start_fake(f"""
            jobs:
              - id: {job_id}
                status: COMPLETED
                result_bytes: 3000
                faults: [{fault}]
            {extra_jobs}
            """)
        d = self.start_daemon(self.config(jobs or [job_id]))
        wait_for(lambda: len(self.journal()) >= 1, timeout=20, what="the hook")
        env = self.env_of(job_id)
        self.assertNotIn("JOBWATCH_RESULT_ERROR", env)
        with open(os.path.join(self.hookdir, f"result.{job_id}:completed.fetch.1"), "rb") as f:
            self.assertEqual(f.read(), generated_result(job_id, 3000))
        self.assertEqual(self.result_dir_names(), [f"{job_id}.json"], "no temporary file left")
        self.assertEqual(fake.requests_for(job_id)["result_count"], 2)
        self.assertEqual(self.metric(d, "ok"), 1)
        self.assertEqual(d.metric('jobwatch_requests_total{account="default",kind="result"}'), 2)
        return fake, d

    def test_429_with_retry_after_pauses_polls_too_then_the_result_arrives(self):
        fake, d = self.run_until_delivered(
            "job-rl", '{kind: http, code: 429, retry_after: "2", count: 1, endpoint: result}',
            extra_jobs="  - {id: job-p, status: PROCESSING}", jobs=["job-p", "job-rl"])
        self.assertEqual(self.metric(d, "rate_limited"), 1)
        limited, fetched = fake.requests_for("job-rl")["times"][-2:]
        self.assertGreaterEqual(fetched - limited, 1.9, "the result waited for Retry-After")
        polls = fake.requests_for("job-p")["times"]
        during = [t for t in polls if limited + 0.1 < t < limited + 1.9]
        self.assertEqual(during, [], "no poll of the account during the pause")
        wait_for(lambda: fake.requests_for("job-p")["times"][-1] > limited + 2,
                 what="polls after the pause")
        self.assertEqual(d.stop(), 0)

    def test_404_then_the_result(self):
        _, d = self.run_until_delivered("job-404", "{kind: http, code: 404, count: 1, endpoint: result}")
        self.assertEqual(self.metric(d, "http_error"), 1)
        self.assertEqual(d.stop(), 0)

    def test_a_200_that_is_not_json_is_not_committed_and_is_retried(self):
        _, d = self.run_until_delivered(
            "job-html", '{kind: body, body: "<html>maintenance</html>", content_type: text/html, '
            "count: 1, endpoint: result}")
        self.assertEqual(self.metric(d, "http_error"), 1)
        self.assertTrue(d.lines("not a JSON document"), "logged why")
        self.assertEqual(d.stop(), 0)

    def test_a_redirect_is_not_followed(self):
        fake, d = self.run_until_delivered(
            "job-302", "{kind: http, code: 302, location: /jobs/job-elsewhere/result, count: 1, "
            "endpoint: result}", extra_jobs="  - {id: job-elsewhere, status: COMPLETED}")
        self.assertEqual(self.metric(d, "http_error"), 1)
        elsewhere = fake.admin("GET", "/_admin/requests")["jobs"].get("job-elsewhere") or {}
        self.assertEqual(elsewhere.get("count", 0), 0, "the Location was never asked for")
        self.assertEqual(d.stop(), 0)


class ResultConfigTest(ResultTestCase):
    def test_check_config_rejects_an_unusable_results_dir_naming_the_key(self):
        self.start_fake("jobs: [{id: a, status: queued}]")
        self.results = os.path.join(self.dir, "missing", "deeper", "results")
        config = self.config(["a"])
        out = subprocess.run([JOBWATCHD, "--check-config", "--config", config],
                             capture_output=True, text=True, env=daemon_env(), timeout=30)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        self.assertIn("results.dir", out.stdout + out.stderr)
        self.assertIn(config, out.stdout + out.stderr)
        bad = self.write("bad.yaml", open(config).read().replace(
            "results:\n", "results:\n  max_size: 12 parsecs\n"))
        out = subprocess.run([JOBWATCHD, "--check-config", "--config", bad],
                             capture_output=True, text=True, env=daemon_env(), timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("results.max_size", out.stdout + out.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
