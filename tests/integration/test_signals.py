# SPDX-License-Identifier: Apache-2.0
"""Every catchable signal has a decided effect (issue 18 #6; src/app/signals.h).

Stray signals must neither kill nor stop the daemon; USR1 logs a status
summary; HUP reloads; TERM and INT stop it cleanly; the crash signals end it
with that signal (as a crash would)."""
import os
import resource
import signal
import subprocess
import unittest

from harness import DaemonTestCase, JOBWATCHD, daemon_env, wait_for

SCENARIO = """
    jobs:
      - id: sig-job
        status: PROCESSING
    """

IGNORED = [signal.SIGPIPE, signal.SIGUSR2, signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF,
           signal.SIGIO, signal.SIGPWR, signal.SIGSTKFLT, signal.SIGTSTP, signal.SIGTTIN,
           signal.SIGTTOU, signal.SIGRTMIN, signal.SIGRTMIN + 5, signal.SIGRTMAX]
HARMLESS_BY_DEFAULT = [signal.SIGCHLD, signal.SIGURG, signal.SIGWINCH, signal.SIGCONT]
CRASH = [signal.SIGQUIT, signal.SIGILL, signal.SIGABRT, signal.SIGFPE, signal.SIGSEGV,
         signal.SIGBUS, signal.SIGSYS, signal.SIGTRAP, signal.SIGXCPU, signal.SIGXFSZ]

SANITIZER_HANDLED = [signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL]


def read(path):
    with open(path) as f:
        return f.read()


def no_core_dumps():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class SignalTest(DaemonTestCase):
    def polls(self):
        return self.fake.requests_for("sig-job")["count"]

    def assert_still_polling(self, d, what):
        before = self.polls()
        wait_for(lambda: self.polls() >= before + 2 or not d.alive(),
                 what=f"two more polls after {what}")
        self.assertTrue(d.alive(), f"jobwatchd died of {what}:\n{d.text()[-2000:]}")
        self.assertGreaterEqual(self.polls(), before + 2, f"polling stopped after {what}")

    def test_stray_signals_neither_kill_nor_stop_it(self):
        self.start_fake(SCENARIO)
        d = self.start_daemon(self.write_config(["sig-job"]))
        d.wait_log("jobwatchd started")
        for sig in IGNORED + HARMLESS_BY_DEFAULT:
            d.proc.send_signal(sig)
            self.assert_still_polling(d, f"signal {int(sig)}")
        self.assertEqual(d.stop(), 0)

    def test_usr1_logs_a_status_summary_and_hup_reloads(self):
        self.start_fake(SCENARIO)
        d = self.start_daemon(self.write_config(["sig-job"]))
        d.wait_log("job seen")
        d.proc.send_signal(signal.SIGUSR1)
        line = d.wait_log("summary=")[0]
        self.assertIn("watching 1 job: 1 processing", line)
        d.proc.send_signal(signal.SIGHUP)
        d.wait_log("configuration reloaded")
        self.assert_still_polling(d, "SIGHUP")
        self.assertEqual(d.stop(signal.SIGINT), 0)

    def test_crash_signals_end_it_with_that_signal(self):
        self.start_fake(SCENARIO)
        config = self.write_config(["sig-job"])
        for sig in CRASH:
            name = signal.Signals(sig).name
            log = open(f"{self.dir}/{name}.log", "w")
            proc = subprocess.Popen([JOBWATCHD, "--config", config], stdout=subprocess.DEVNULL,
                                    stderr=log, env=daemon_env(), preexec_fn=no_core_dumps)
            try:
                wait_for(lambda: "jobwatchd started" in read(log.name) or proc.poll() is not None,
                         what=f"start before {name}")
                proc.send_signal(sig)
                rc = proc.wait(timeout=20)
                if os.environ.get("ASAN_OPTIONS") and sig in SANITIZER_HANDLED:
                    # AddressSanitizer reports these itself and exits non-zero.
                    self.assertNotEqual(rc, 0, name)
                else:
                    self.assertEqual(rc, -sig, name)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
