"""Hostile watch lists against the real daemon (issue 18): input that used
to stall the control loop, lose a job's hook, or leak an outside file into
.reason and the log. Bounded waits only."""
import os
import signal
import sys
import time
import unittest

from harness import DaemonTestCase, wait_for


class HostileInputTestCase(DaemonTestCase):
    def config_with_drop(self, jobs=(), extra=""):
        self.drop = os.path.join(self.dir, "drop")
        config = self.write_config(list(jobs), extra=extra)
        with open(config) as f:
            text = f.read().replace("watch:\n  file: jobs.yaml\n",
                                    f"watch:\n  file: jobs.yaml\n  drop_dir: {self.drop}\n")
        with open(config, "w") as f:
            f.write(text)
        return config

    def drop_file(self, name, content):
        """Writes `content` beside the drop directory and renames it in whole."""
        stage = os.path.join(self.dir, "stage-" + name)
        with open(stage, "wb") as f:
            f.write(content)
        os.rename(stage, os.path.join(self.drop, name))

    def taken(self, name):
        """Where the drop file `name` went: 'processed', 'rejected' or None."""
        for sub in ("processed", "rejected"):
            if name in os.listdir(os.path.join(self.drop, "." + sub)):
                return sub
        return None

    def reason(self, name):
        with open(os.path.join(self.drop, ".rejected", name + ".reason")) as f:
            return f.read()


def many_labels(count, job="job-many"):
    lines = ["jobs:", f"  - id: {job}", "    labels:"]
    lines += [f"      k{i}: v" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


class ManyLabelsTest(HostileInputTestCase):
    def test_sixty_thousand_labels_neither_stall_the_loop_nor_delay_sigterm(self):
        self.start_fake("jobs: []\n")
        d = self.start_daemon(self.config_with_drop())
        d.wait_log("jobwatchd started")
        content = many_labels(60_000)
        self.assertGreater(len(content), 800_000)
        started = time.monotonic()
        self.drop_file("labels.yaml", content)
        wait_for(lambda: self.taken("labels.yaml") is not None, timeout=20,
                 what="the 60,000-label drop file taken")
        took = time.monotonic() - started
        stop_started = time.monotonic()
        self.assertEqual(d.stop(timeout=10), 0)
        stopped_in = time.monotonic() - stop_started
        print(f"\n60,000 labels ({len(content)} bytes): taken in {took:.2f} s, "
              f"SIGTERM exit in {stopped_in:.2f} s", file=sys.stderr)
        self.assertLess(stopped_in, 2.0)

    def test_sigterm_right_after_the_drop_is_not_held_up_for_long(self):
        self.start_fake("jobs: []\n")
        d = self.start_daemon(self.config_with_drop())
        d.wait_log("jobwatchd started")
        self.drop_file("labels.yaml", many_labels(60_000))
        started = time.monotonic()
        # Before the fix the parse held the loop (and SIGTERM) for 37-45 s.
        self.assertEqual(d.stop(timeout=20), 0)
        stopped_in = time.monotonic() - started
        print(f"\nSIGTERM right after a 60,000-label drop: exit in {stopped_in:.2f} s",
              file=sys.stderr)
        self.assertLess(stopped_in, 10.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
