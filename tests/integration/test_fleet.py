# SPDX-License-Identifier: Apache-2.0
"""High availability with the real daemon on a real PostgreSQL 15 (SPEC "High
availability (PostgreSQL)"): three instances share one database and one
watch file of FLEET_JOBS jobs that finish over about a minute and a half,
while one instance is SIGKILLed and restarted every few seconds, the
database is restarted once, and one instance is SIGSTOPped past its lease
and resumed. Afterwards:

- every job's terminal status was recorded and its hook ran to success;
- each (job, status, hook) ran once, except runs in flight when their
  instance was killed or paused: at most twice, the second with
  JOBWATCH_ATTEMPT > 1;
- no unfinished job went unpolled for longer than lease + the time a poll
  round takes (+ slack), outside the database's restart;
- the fake API never answered 429, with the fleet sharing one key's limit.

The server is the test's own (tests/tools/postgres-server.sh in its temp
directory): restarting it must not disturb other tests."""
import json
import os
import random
import signal
import subprocess
import time
import unittest

from harness import JOBWATCHD, TEST_KEY, DaemonTestCase, daemon_env, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
PG_SERVER = os.path.join(HERE, "..", "tools", "postgres-server.sh")
JOBS = int(os.environ.get("FLEET_JOBS", "1000"))
LEASE_S = 3
RATE = 600  # the key's limit per second, shared by the fleet

HOOK = """#!/bin/sh
# One line per run: event, attempt, hook process (appends are atomic).
sleep 0.2
echo "$JOBWATCH_EVENT_ID $JOBWATCH_ATTEMPT $$" >> "$1"
"""

# A with_result hook: says whether the result file it was given is there.
# A with_result hook: says whether it was given a result file in its own
# instance's results.dir ($2; each instance has its own, as on separate
# machines). $3: seconds it takes.
ARCHIVE = """#!/bin/sh
sleep "$3"
case "$JOBWATCH_RESULT_FILE" in "$2"/*) here=1 ;; *) here=0 ;; esac
if [ -n "$JOBWATCH_RESULT_ERROR" ]; then seen="error"
elif [ "$here" = 1 ] && [ -s "$JOBWATCH_RESULT_FILE" ]; then seen="ok"
else seen="elsewhere:$JOBWATCH_RESULT_FILE"; fi
echo "$JOBWATCH_EVENT_ID $seen" >> "$1"
"""


def psql(url, sql):
    return subprocess.run(["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


class FleetTest(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.pg_dir = os.path.join(self.dir, "pg")
        if not os.path.exists("/usr/lib/postgresql/15/bin/pg_ctl"):
            if os.environ.get("JOBWATCH_NO_SKIP"):
                self.fail("PostgreSQL 15 is not installed (tests/tools/install-deps.sh)")
            self.skipTest("PostgreSQL 15 is not installed")
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o755)  # the server runs as `postgres`
        subprocess.run(["bash", PG_SERVER, "start", self.pg_dir], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.pg_dir, "url")) as f:
            self.pg_url = f.read().strip()

    def tearDown(self):
        for d in self.daemons:
            if d.alive():
                try:
                    os.kill(d.proc.pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        subprocess.run(["bash", PG_SERVER, "stop", self.pg_dir], stdout=subprocess.DEVNULL)
        super().tearDown()

    def fleet_config(self, name, jobs, hook=None, hooklog=None, archive_s=0.1, max_hooks=4):
        url_file = self.write("pg.url", self.pg_url + "\n")
        control = os.path.join(self.dir, f"control-{name}.sock")
        # Each instance its own results.dir, as on separate machines.
        results = os.path.join(self.dir, f"results-{name}")
        archive = self.write("archive.sh", ARCHIVE)
        os.chmod(archive, 0o755)
        archivelog = os.path.join(self.dir, "archive.log")
        done = "" if hook is None else f"""\
    - name: done
      on: [completed, failed]
      command: ["{hook}", "{hooklog}"]
"""
        path = self.write_config(
            jobs, api={"rate_limit": f"{RATE}/s"},
            poll={"interval": "1s", "strategy": "round_robin"},
            name=f"jobwatchd-{name}.yaml",
            extra=f"""\
control: {{socket: {control}}}
results: {{dir: {results}}}
hooks:
  max_concurrent: {max_hooks}
  definitions:
{done}    - name: archive
      on: [completed]
      with_result: true
      command: ["{archive}", "{archivelog}", "{results}", "{archive_s}"]
""")
        with open(path) as f:
            text = f.read()
        sqlite = "state:\n  path: state.db\n"
        self.assertIn(sqlite, text)
        with open(path, "w") as f:
            f.write(text.replace(sqlite, f"state:\n  backend: postgresql\n  url_file: {url_file}\n"
                                         f"  instance: {name}\n  lease: {LEASE_S}s\n"))
        return path

    def test_three_instances_survive_kills_a_database_restart_and_a_pause(self):
        rng = random.Random(16)
        ids = [f"fleet-{i:04d}" for i in range(JOBS)]
        finish = {}
        lines = []
        for i, job in enumerate(ids):
            at = 10 + rng.uniform(0, 80)
            final = "FAILED" if i % 10 == 0 else "COMPLETED"
            finish[job] = at
            lines.append(f"  - {{id: {job}, type: extraction, timeline: "
                         f"[{{at: 0s, status: PROCESSING}}, {{at: {at:.1f}s, status: {final}}}]}}\n")
        self.start_fake(f"""\
timeline_start: server_start
api_key: {TEST_KEY}
rate_window: 1s
rate_limits:
  - {{key: {TEST_KEY}, per_window: {RATE}}}
jobs:
""" + "".join(lines))
        t0 = time.monotonic()  # the fake's timelines start now (server_start)
        t0_wall = time.time()
        hook = self.write("hook.sh", HOOK)
        os.chmod(hook, 0o755)
        completed = sum(1 for i in range(JOBS) if i % 10 != 0)
        hooklog = os.path.join(self.dir, "hooks.log")
        configs = {n: self.fleet_config(n, ids, hook, hooklog) for n in "abc"}
        procs = {n: self.start_daemon(configs[n], name=f"jobwatchd-{n}") for n in "abc"}
        for d in procs.values():
            d.wait_log("joined the fleet", timeout=30)
        wait_for(lambda: self.held_total() == JOBS, timeout=30,
                 what="every job held by some instance")

        # Chaos while the jobs finish (the last at t0 + 90 s).
        kills, db_restarted, paused = 0, None, False
        victims = ["a", "b"]
        next_kill = time.monotonic() + 4
        while time.monotonic() - t0 < 95:
            now = time.monotonic()
            if now >= next_kill:
                name = victims[kills % 2]
                procs[name].stop(signal.SIGKILL)
                procs[name] = self.start_daemon(configs[name], name=f"jobwatchd-{name}-{kills}")
                kills += 1
                next_kill = now + 5
            if db_restarted is None and now - t0 > 35:
                down = time.time()
                subprocess.run(["bash", PG_SERVER, "restart", self.pg_dir], check=True,
                               stdout=subprocess.DEVNULL)
                db_restarted = (down, time.time())
            if not paused and now - t0 > 55:
                paused = True
                os.kill(procs["c"].proc.pid, signal.SIGSTOP)
                time.sleep(LEASE_S + 3)
                os.kill(procs["c"].proc.pid, signal.SIGCONT)
            time.sleep(0.2)

        # Every terminal job's hook ran to success (bounded wait).
        wait_for(lambda: self.succeeded_runs() == JOBS + completed, timeout=90, interval=1,
                 what="every job's hooks succeeded")
        for d in procs.values():
            self.assertTrue(d.alive(), d.text()[-2000:])
            d.stop()

        # The database agrees: every job terminal with its run succeeded.
        self.assertEqual(int(psql(self.db_url(), "SELECT count(*) FROM jobs WHERE terminal = 1")), JOBS)
        self.assertEqual(psql(self.db_url(),
                              "SELECT count(*) FROM hook_runs WHERE state <> 2"), "0")
        # Each event's hook ran once, twice at most when a run was in flight
        # at a kill or the pause, the second as a higher attempt.
        runs = {}
        with open(hooklog) as f:
            for line in f:
                event, attempt, _ = line.split()
                runs.setdefault(event, []).append(int(attempt))
        self.assertEqual(len(runs), JOBS, "one event per job")
        twice = {e: a for e, a in runs.items() if len(a) > 1}
        for event, attempts in runs.items():
            self.assertLessEqual(len(attempts), 2, f"{event} ran {attempts}")
            if len(attempts) == 2:
                self.assertGreater(max(attempts), 1, f"{event} ran twice as attempt 1")
        # Nothing lost or doubled beyond that; at most the runs a kill can
        # interrupt (one or two per kill, a few at the pause).
        self.assertLessEqual(len(twice), 2 * kills + 10, twice)

        # Every with_result run was given its result on the machine that
        # ran it, also when its job moved (the new holder fetched it again).
        archived = self.archived()
        self.assertEqual(len(archived), completed, "one archive event per completed job")
        for event, seen in archived.items():
            self.assertLessEqual(len(seen), 2, f"{event} archived {seen}")
            self.assertEqual(set(seen), {"ok"}, f"{event} was given {seen}")

        # The vendor never said 429 to the fleet.
        keys = self.fake.admin("GET", "/_admin/requests")["keys"]
        self.assertEqual(keys[TEST_KEY]["rejected_429"], 0)

        # No unfinished job unpolled for longer than lease + a poll round
        # (JOBS / RATE s) + slack, outside the database's restart.
        bound = LEASE_S + JOBS / RATE + 1 + 3
        outage = (db_restarted[0] - 1, db_restarted[1] + LEASE_S + 3)
        requests = self.fake.admin("GET", "/_admin/requests")["jobs"]
        worst = (0, None)
        for job in ids:
            times = sorted(requests[job]["times"])
            end = t0_wall + finish[job]
            for a, b in zip(times, times[1:]):
                if a > end:
                    break
                if outage[0] <= b and a <= outage[1]:
                    continue
                worst = max(worst, (b - a, job))
        self.assertLessEqual(worst[0], bound, f"longest gap between polls: {worst}")
        print(f"fleet: {JOBS} jobs, {kills} kills, runs twice: {len(twice)}, "
              f"longest gap {worst[0]:.1f} s (bound {bound:.1f} s)")

    def test_with_result_runs_a_lost_machine_left_get_the_result_fetched_again(self):
        ids = [f"lost-{i}" for i in range(6)]
        self.start_fake(f"""\
timeline_start: server_start
api_key: {TEST_KEY}
jobs:
""" + "".join(f"  - {{id: {job}, timeline: [{{at: 0s, status: PROCESSING}}, "
              f"{{at: 2s, status: COMPLETED}}]}}\n" for job in ids))
        # a runs one slow archive hook at a time, so most wait in the ledger
        # with their result in a's results.dir when a's machine is lost.
        a = self.start_daemon(self.fleet_config("a", ids, archive_s=1, max_hooks=1),
                              name="jobwatchd-a")
        a.wait_log("joined the fleet", timeout=30)
        wait_for(lambda: self.held_total() == len(ids), timeout=30, what="a holds every job")
        wait_for(lambda: len(self.archived()) >= 1, timeout=30, what="a's first archive run")
        waiting = int(psql(self.pg_url, "SELECT count(*) FROM hook_runs WHERE state = 0"))
        self.assertGreaterEqual(waiting, 2, "runs waiting when a is lost")
        a.stop(signal.SIGKILL)
        b = self.start_daemon(self.fleet_config("b", ids, archive_s=0), name="jobwatchd-b")
        wait_for(lambda: self.succeeded_runs() == len(ids), timeout=60, interval=0.5,
                 what="every archive run succeeded")
        archived = self.archived()
        self.assertEqual(sorted(archived), sorted(f"{job}:completed" for job in ids))
        for event, seen in archived.items():
            # a's run in flight at the kill may end "ok" on a and run again on b
            self.assertEqual(set(seen), {"ok"}, f"{event} was given {seen}")
        # b fetched again the results its runs waited for (a run a finished
        # between the count and the kill needs none).
        on_b = [f for f in os.listdir(os.path.join(self.dir, "results-b")) if f.endswith(".json")]
        self.assertGreaterEqual(len(on_b), waiting - 1)
        fetches = sum(self.fake.requests_for(job)["result_count"] for job in ids)
        self.assertGreaterEqual(fetches, len(ids) + waiting - 1)

        # On a's machine, with its daemon gone, the operator commands read
        # the fleet's database, say so (exit 3) and list b.
        config_a = os.path.join(self.dir, "jobwatchd-a.yaml")
        status = self.cli_json(config_a, "status")
        self.assertFalse(status["live"])
        self.assertEqual(status["jobs"], len(ids))
        self.assertEqual([i["instance"] for i in status["instances"]], ["b"])
        self.assertEqual(status["instances"][0]["jobs_held"], len(ids))
        show = self.cli_json(config_a, "show", "lost-0")
        self.assertEqual(show["job"]["status"], "completed")
        self.assertGreaterEqual(len(show["transitions"]), 1)
        self.assertGreaterEqual(len(show["hook_attempts"]), 1)
        b.stop()

    def cli_json(self, config, *args):
        r = subprocess.run([JOBWATCHD, *args, "--config", config, "--json"], capture_output=True,
                           text=True, timeout=60, env=daemon_env())
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("not running", r.stderr)
        return json.loads(r.stdout)

    def archived(self):
        out = {}
        try:
            with open(os.path.join(self.dir, "archive.log")) as f:
                for line in f:
                    event, seen = line.split(maxsplit=1)
                    out.setdefault(event, []).append(seen.strip())
        except FileNotFoundError:
            pass
        return out

    def test_operator_commands_answer_for_the_jobs_this_instance_holds(self):
        ids = [f"held-{i}" for i in range(8)]
        self.start_fake(f"api_key: {TEST_KEY}\njobs:\n" +
                        "".join(f"  - {{id: {j}, status: PROCESSING}}\n" for j in ids))
        hook = self.write("hook.sh", HOOK)
        os.chmod(hook, 0o755)
        hooklog = os.path.join(self.dir, "hooks.log")
        configs = {n: self.fleet_config(n, ids, hook, hooklog) for n in "ab"}
        for n in "ab":
            self.start_daemon(configs[n], name=f"jobwatchd-{n}").wait_log("control socket ready")

        def held(name):
            r = subprocess.run([JOBWATCHD, "jobs", "--json", "--config", configs[name]],
                               capture_output=True, text=True, timeout=60, env=daemon_env())
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return {j["id"] for j in json.loads(r.stdout)["jobs"]}

        # Both joined: the jobs spread over them, each held by one.
        wait_for(lambda: self.held_total() == len(ids) and held("a") and held("b"), timeout=30,
                 what="both instances holding jobs")
        wait_for(lambda: held("a") | held("b") == set(ids), timeout=30, what="every job listed")
        a, b = held("a"), held("b")
        self.assertEqual(a & b, set())
        r = subprocess.run([JOBWATCHD, "poll", sorted(b)[0], sorted(a)[0], "--config", configs["a"]],
                           capture_output=True, text=True, timeout=60, env=daemon_env())
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{sorted(b)[0]}: NOT DONE: not watched here (another instance of the fleet "
                      "may hold it)", r.stdout)
        self.assertIn(f"{sorted(a)[0]}: due now", r.stdout)

    def db_url(self):
        return self.pg_url

    def held_total(self):
        try:
            return int(psql(self.pg_url, "SELECT count(*) FROM jobs WHERE owner IS NOT NULL"))
        except subprocess.CalledProcessError:
            return -1

    def succeeded_runs(self):
        try:
            return int(psql(self.pg_url,
                            "SELECT count(*) FROM hook_runs WHERE state = 2"))
        except subprocess.CalledProcessError:
            return -1


if __name__ == "__main__":
    unittest.main()
