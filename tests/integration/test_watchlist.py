# SPDX-License-Identifier: Apache-2.0
"""Drop directory, watch-file reload, SIGHUP config reload, `jobwatchd add`
and sharding, with the real daemon and real files (issue: Drop directory)."""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

from harness import DaemonTestCase, JOBWATCHD, daemon_env, wait_for

# A drop-file producer: writes its share of files in one of three ways.
WRITER = r"""
import os, random, sys, time
drop, first, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
for n in range(first, first + count):
    ids = sorted({f"job-{rng.randrange(3000):04d}" for _ in range(rng.randint(1, 8))})
    text = "jobs:\n" + "".join(f"  - {i}\n" for i in ids)
    name = os.path.join(drop, f"w{seed}-{n:04d}.yaml")
    mode = n % 3
    if mode == 0:  # slowly, in three chunks with pauses, under the final name
        with open(name, "w") as f:
            third = max(1, len(text) // 3)
            for k in range(3):
                f.write(text[k * third:(k + 1) * third] if k < 2 else text[2 * third:])
                f.flush()
                time.sleep(0.01)
    elif mode == 1:  # under a .tmp name, then renamed in
        with open(name + ".tmp", "w") as f:
            f.write(text)
        os.rename(name + ".tmp", name)
    else:  # at once
        with open(name, "w") as f:
            f.write(text)
    print(" ".join(ids))
"""


class WatchListTestCase(DaemonTestCase):
    def config_with_drop(self, jobs=(), extra="", poll=None):
        self.drop = os.path.join(self.dir, "drop")
        config = self.write_config(list(jobs), poll=poll, extra=extra)
        with open(config) as f:
            text = f.read().replace("watch:\n  file: jobs.yaml\n",
                                    f"watch:\n  file: jobs.yaml\n  drop_dir: {self.drop}\n")
        with open(config, "w") as f:
            f.write(text)
        return config

    def watched_ids(self):
        db = sqlite3.connect(os.path.join(self.dir, "state.db"), timeout=10)
        try:
            return [r[0] for r in db.execute("SELECT id FROM jobs ORDER BY id")]
        finally:
            db.close()

    def top_of_drop(self):
        return sorted(n for n in os.listdir(self.drop) if n not in (".processed", ".rejected"))


class DropDirTest(WatchListTestCase):
    def test_a_thousand_files_from_four_concurrent_writers(self):
        self.start_fake("jobs: []\n")
        config = self.config_with_drop(poll={"interval": "30s", "backoff_max": "1m"})
        d = self.start_daemon(config)
        d.wait_log("jobwatchd started")
        writer = self.write("writer.py", WRITER)
        procs = [subprocess.Popen([sys.executable, writer, self.drop, str(w * 250), "250", str(w)],
                                  stdout=subprocess.PIPE, text=True) for w in range(4)]
        expected = set()
        for p in procs:
            out, _ = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0)
            for line in out.splitlines():
                expected.update(line.split())
        wait_for(lambda: len(os.listdir(os.path.join(self.drop, ".processed"))) == 1000,
                 timeout=60, what="1000 files processed")
        wait_for(lambda: set(self.watched_ids()) == expected, timeout=30,
                 what="every distinct ID watched")
        self.assertEqual(self.top_of_drop(), [])
        self.assertEqual(os.listdir(os.path.join(self.drop, ".rejected")), [],
                         "a partial read would have been rejected")
        ids = self.watched_ids()
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(d.stop(), 0)
        print(f"\n1000 drop files from 4 writers: {len(expected)} distinct IDs watched once each")

    def test_garbage_is_rejected_with_a_reason_and_the_daemon_keeps_running(self):
        self.start_fake("jobs: [{id: good-1, status: PROCESSING}]\n")
        config = self.config_with_drop()
        d = self.start_daemon(config)
        d.wait_log("jobwatchd started")
        stage = os.path.join(self.dir, "stage")
        os.mkdir(stage)
        files = {
            "binary.yaml": b"\x00\x01\x02\xff\xfe garbage",
            "invalid.yaml": b"jobs: [unclosed\n",
            "bad-ids.yaml": b"jobs:\n  - good-1\n  - ../../etc/passwd\n",
            "huge.yaml": b"jobs:\n" + b"  - x\n" * (17 * 1024 * 1024 // 6),
            "good.txt": b"good-1\n",
        }
        for name, content in files.items():
            with open(os.path.join(stage, name), "wb") as f:
                f.write(content)
            os.rename(os.path.join(stage, name), os.path.join(self.drop, name))
        os.symlink("/etc/passwd", os.path.join(self.drop, "link.yaml"))
        rejected = os.path.join(self.drop, ".rejected")
        wait_for(lambda: len([n for n in os.listdir(rejected) if n.endswith(".reason")]) == 5,
                 timeout=20, what="five rejections")

        def reason(name):
            with open(os.path.join(rejected, name + ".reason")) as f:
                return f.read()
        self.assertIn("binary", reason("binary.yaml"))
        self.assertIn("invalid.yaml:", reason("invalid.yaml"))
        self.assertIn("bad-ids.yaml:3", reason("bad-ids.yaml"))
        self.assertIn("invalid job ID", reason("bad-ids.yaml"))
        self.assertIn("too large", reason("huge.yaml"))
        self.assertIn("symbolic link", reason("link.yaml"))
        self.assertTrue(os.path.islink(os.path.join(rejected, "link.yaml")))
        wait_for(lambda: self.watched_ids() == ["good-1"], what="the good file's job")
        self.assertEqual(self.top_of_drop(), [])
        self.assertTrue(d.alive())
        self.assertEqual(d.metric('jobwatch_watch_rejected_total{source="drop_dir"}'), 5)
        self.assertEqual(d.stop(), 0)

    def test_add_command_writes_a_drop_file_the_service_takes(self):
        fake = self.start_fake("jobs: [{id: added-1, status: PROCESSING}]\n")
        config = self.config_with_drop()
        d = self.start_daemon(config)
        d.wait_log("jobwatchd started")
        r = subprocess.run([JOBWATCHD, "add", "--config", config, "--label", "customer=acme",
                            "added-1", "added-2"], capture_output=True, text=True, timeout=30,
                           env=daemon_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("added 2 jobs", r.stdout)
        wait_for(lambda: fake.requests_for("added-1")["count"] >= 1, what="the added job polled")
        self.assertEqual(self.watched_ids(), ["added-1", "added-2"])
        db = sqlite3.connect(os.path.join(self.dir, "state.db"))
        labels = db.execute("SELECT group_concat(key || '=' || value) FROM job_labels "
                            "WHERE job_id='added-1'").fetchone()[0]
        db.close()
        self.assertIn("acme", labels)

        before = sorted(os.listdir(os.path.join(self.drop, ".processed")))
        r = subprocess.run([JOBWATCHD, "add", "--config", config, "ok-id", "bad/id"],
                           capture_output=True, text=True, timeout=30, env=daemon_env())
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad/id", r.stderr)
        self.assertIn("nothing added", r.stderr)
        # Had the failed add left a file, the watcher would take it no later
        # than the next one: add another and wait until it is taken.
        r = subprocess.run([JOBWATCHD, "add", "--config", config, "later-id"],
                           capture_output=True, text=True, timeout=30, env=daemon_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: len(os.listdir(os.path.join(self.drop, ".processed"))) > len(before),
                 what="the second add taken")
        after = sorted(os.listdir(os.path.join(self.drop, ".processed")))
        self.assertEqual(len(after), len(before) + 1, after)
        self.assertEqual(self.top_of_drop(), [])
        self.assertEqual(d.stop(), 0)


class ReloadTest(WatchListTestCase):
    def test_watch_file_replaced_by_rename_adds_and_removes_jobs(self):
        fake = self.start_fake("""
            jobs:
              - {id: keep, status: PROCESSING}
              - {id: drop-me, status: PROCESSING}
              - {id: new-one, status: PROCESSING}
            """)
        config = self.write_config(["keep", "drop-me"])
        d = self.start_daemon(config)
        wait_for(lambda: fake.requests_for("drop-me")["count"] >= 2, what="polling")
        tmp = os.path.join(self.dir, ".jobs.yaml.swp")
        with open(tmp, "w") as f:
            f.write("jobs:\n  - keep\n  - new-one\n")
        os.rename(tmp, os.path.join(self.dir, "jobs.yaml"))  # how editors save
        d.wait_log("unwatched=1", timeout=10)
        wait_for(lambda: fake.requests_for("new-one")["count"] >= 1, what="the new job polled")
        stopped_at = fake.requests_for("drop-me")["count"]
        time.sleep(1.0)  # five poll intervals: the removed job must stay silent
        self.assertEqual(fake.requests_for("drop-me")["count"], stopped_at)
        self.assertEqual(self.watched_ids(), ["keep", "new-one"])
        self.assertEqual(d.stop(), 0)

    def test_sighup_with_a_broken_config_keeps_the_old_one_then_a_fixed_one_applies(self):
        fake = self.start_fake("jobs: [{id: j1, status: COMPLETED}]\n")
        hook = self.write("hook.sh", "#!/bin/sh\necho run >> \"$1\"\n")
        os.chmod(hook, 0o755)
        runs = os.path.join(self.dir, "runs")
        hooks = f"""\
hooks:
  definitions:
    - name: h
      on: [completed]
      command: ["{hook}", "{runs}"]
"""
        config = self.write_config(["j1"], extra=hooks)
        d = self.start_daemon(config)
        wait_for(lambda: os.path.exists(runs), what="the hook")
        self.assertEqual(d.metric("jobwatch_config_last_reload_successful"), 1)
        with open(config) as f:
            good = f.read()
        with open(config, "w") as f:
            f.write(good.replace("interval: 200ms", "intervall: 200ms"))
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("reload failed")
        self.assertTrue(d.alive())
        self.assertIn("poll.intervall", d.text())
        wait_for(lambda: d.metric("jobwatch_config_last_reload_successful") == 0,
                 what="the reload metric to say 0")
        with open(config, "w") as f:
            f.write(good.replace("level: info", "level: debug"))
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        wait_for(lambda: d.metric("jobwatch_config_last_reload_successful") == 1,
                 what="the reload metric to say 1")
        self.assertTrue(d.alive())
        with open(runs) as f:
            self.assertEqual(f.read(), "run\n", "a reload re-runs no hook")
        self.assertEqual(d.stop(), 0)


class ShardTest(WatchListTestCase):
    def test_two_shards_poll_disjoint_sets_covering_the_list(self):
        ids = [f"shard-{i:04d}" for i in range(1000)]
        fake = self.start_fake("generate:\n  - {prefix: shard-, count: 1000, status: PROCESSING}\n")
        daemons = []
        for index in (0, 1):
            sub = os.path.join(self.dir, f"shard{index}")
            os.mkdir(sub)
            self.write(f"shard{index}/jobs.yaml", "jobs:\n" + "".join(f"  - {i}\n" for i in ids))
            config = self.write(f"shard{index}/jobwatchd.yaml", f"""\
                api: {{base_url: "{fake.base_url}", allow_insecure_http: true, rate_limit: 0}}
                poll: {{interval: 2s}}
                watch: {{file: jobs.yaml}}
                state: {{path: state.db}}
                metrics: {{listen: "127.0.0.1:0"}}
                shard: {{index: {index}, count: 2}}
                """)
            daemons.append(self.start_daemon(config, name=f"shard{index}"))

        def polled():
            log = fake.admin("GET", "/_admin/requests")["jobs"]
            return {j for j, v in log.items() if v["count"] > 0}
        wait_for(lambda: polled() == set(ids), timeout=30, what="every ID polled once")
        for d in daemons:
            d.wait_log("shard=")
            self.assertEqual(d.stop(), 0)
        shard_of = {}
        for index in (0, 1):
            db = sqlite3.connect(os.path.join(self.dir, f"shard{index}", "state.db"))
            for (job_id,) in db.execute("SELECT id FROM jobs"):
                self.assertNotIn(job_id, shard_of, "a job in both shards")
                shard_of[job_id] = index
            db.close()
        self.assertEqual(set(shard_of), set(ids))
        counts = [list(shard_of.values()).count(i) for i in (0, 1)]
        self.assertTrue(400 < counts[0] < 600, counts)
        print(f"\nshards: {counts[0]} + {counts[1]} jobs, disjoint, union = all {len(ids)}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
