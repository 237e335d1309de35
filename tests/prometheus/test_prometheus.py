# SPDX-License-Identifier: Apache-2.0
"""A real Prometheus scraping the real jobwatchd, which polls the fake API:
the values operators chart arrive in Prometheus, every expression of the
Grafana dashboard and of the alert rules evaluates without error, and the
exposition passes `promtool check metrics` (issue: Metrics).

Binaries come from the environment (set by ctest): JOBWATCHD_BIN,
FAKEAPI_BIN, PROMETHEUS_BIN, PROMTOOL_BIN (the last two fall back to PATH).
Every wait is bounded; nothing sleeps and hopes.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("JOBWATCH_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))

from harness import DaemonTestCase, TEST_KEY, wait_for  # noqa: E402

DASHBOARD = os.path.join(SOURCE_DIR, "etc", "grafana", "jobwatchd.json")
ALERT_RULES = os.path.join(SOURCE_DIR, "etc", "prometheus", "jobwatchd-alerts.yml")
MISSING_TOOLS = ("promtool/prometheus not found: install the prometheus package "
                 "(apt-get install prometheus)")
TERMINAL = "completed|failed|not_found|timed_out|cancelled"

# Grafana's variables, as a query would be sent for "last hour, all instances,
# all accounts".
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "instance": ".+",
    "account": ".+",
    "datasource": "",
}


def tool(env_name, program):
    path = os.environ.get(env_name, "")
    if path and os.access(path, os.X_OK):
        return path
    return shutil.which(program)


PROMETHEUS = tool("PROMETHEUS_BIN", "prometheus")
PROMTOOL = tool("PROMTOOL_BIN", "promtool")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def grafana_to_promql(expr):
    """Replaces $var, ${var} and ${var:format} with GRAFANA_VARIABLES; an unknown
    variable is a test failure (the mapping must learn it)."""
    def sub(m):
        name = m.group(1) or m.group(2)
        if name not in GRAFANA_VARIABLES:
            raise AssertionError(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)


def dashboard_expressions(path=DASHBOARD):
    with open(path) as f:
        dashboard = json.load(f)
    found = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    found.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))  # collapsed rows
    walk(dashboard["panels"])
    for v in dashboard.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query" and isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q and not q.startswith("label_values("):
            found.append((f"variable {v['name']}", q))
    return found


class Prometheus:
    """A Prometheus server of our own: temp data dir, a free port, 1 s scrapes
    of one jobwatchd target, and the alert rules loaded."""

    def __init__(self, workdir, target_port, rule_files):
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(os.path.join(self.dir, "data"))
        config = {  # JSON is YAML
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "scrape_configs": [{"job_name": "jobwatchd",
                                "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}]}],
        }
        self.config_path = os.path.join(self.dir, "prometheus.yml")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.log_path = os.path.join(self.dir, "prometheus.log")
        self.proc = None
        # A free port can be taken between our probe and Prometheus' bind:
        # then Prometheus exits at once and we try another.
        for _ in range(3):
            self.port = free_port()
            self._start()
            if self._wait_ready():
                return
        raise AssertionError("prometheus did not start:\n" + self.log())

    def _start(self):
        self.log_file = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config_path}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"],
            stdout=self.log_file, stderr=subprocess.STDOUT, cwd=self.dir)
        self.url = f"http://127.0.0.1:{self.port}"

    def _ready(self):
        if self.proc.poll() is not None:
            return "exited"
        try:
            return http_get(self.url + "/-/ready", timeout=2)[0] == 200 and "ready"
        except (urllib.error.URLError, ConnectionError, OSError):
            return None

    def _wait_ready(self):
        state = wait_for(self._ready, timeout=60, interval=0.1, what="prometheus /-/ready")
        if state == "ready":
            return True
        self.log_file.close()
        return False

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def api(self, path, **params):
        """GET /api/v1/<path>; returns the decoded JSON, errors included."""
        url = f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:  # 400/422: bad_data, execution errors
            return json.loads(e.read() or b'{"status":"error","error":"empty body"}')

    def query(self, expr):
        answer = self.api("query", query=expr)
        if answer.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {answer}")
        return answer["data"]

    def value(self, expr):
        """The single value of an instant vector or scalar; None when empty."""
        data = self.query(expr)
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        result = data["result"]
        if not result:
            return None
        if len(result) != 1:
            raise AssertionError(f"{expr!r}: expected one series, got {result}")
        return float(result[0]["value"][1])

    def wait_value(self, expr, predicate, timeout=30, what=None):
        last = [None]

        def check():
            last[0] = self.value(expr)
            return last[0] is not None and predicate(last[0])
        try:
            wait_for(check, timeout=timeout, interval=0.2, what=what or expr)
        except AssertionError as e:
            raise AssertionError(f"{e}; last value of {expr!r}: {last[0]}") from None
        return last[0]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log_file.close()


SCENARIO = f"""
api_key: {TEST_KEY}
jobs:
  - id: done-1
    type: extraction
    timeline:
      - {{at: 0s, status: queued}}
      - {{at: 300ms, status: COMPLETED}}
  - {{id: done-2, type: extraction, status: COMPLETED}}
  - {{id: done-3, type: classification, status: Succeeded}}
  - id: broken-1
    type: extraction
    error: "OCR engine crashed"
    timeline:
      - {{at: 0s, status: PROCESSING}}
      - {{at: 300ms, status: FAILED}}
  - {{id: slow-1, type: extraction, status: PROCESSING}}
  - {{id: waiting-1, type: classification, status: queued}}
"""
JOBS = ["done-1", "done-2", "done-3", "broken-1", "slow-1", "waiting-1", "gone-1"]
COMPLETED = 3  # done-1, done-2, done-3 (Succeeded is an alias of completed)
# A budget far above what the test spends, so "Request budget used" has data
# and nothing is slowed: 60,000/min.
RATE_LIMIT = "60000/min"
BUDGET_PER_SECOND = 1000.0
# The API panels and rules (their series carry the account label).
ACCOUNT_PANELS = ["API up", "Last successful poll age", "Poll rate by result", "Poll latency",
                  "Request budget used", "Result fetches by result",
                  "API requests by kind vs budget"]


class PrometheusTest(DaemonTestCase):
    def setUp(self):
        if not PROMETHEUS or not PROMTOOL:
            self.fail(MISSING_TOOLS)
        super().setUp()
        self.prometheus = None
        try:
            self._start_everything()
        except BaseException:
            self.tearDown()  # unittest skips tearDown when setUp fails
            raise

    def _start_everything(self):
        self.fake = self.start_fake(SCENARIO)
        config = self.write_config(JOBS, api={"rate_limit": RATE_LIMIT}, extra=f"""\
            hooks:
              definitions:
                - name: notify
                  on: [completed]
                  command: ["{shutil.which('true') or '/bin/true'}"]
                  timeout: 10s
                  retries: 0
            """)
        with open(config) as f:
            has_metrics = re.search(r"^metrics:", f.read(), re.M)
        if not has_metrics:  # the harness may already ask for port 0
            with open(config, "a") as f:
                f.write('metrics:\n  listen: "127.0.0.1:0"\n')
        self.daemon = self.start_daemon(config)
        line = self.daemon.wait_log("metrics served", timeout=20)
        self.assertTrue(line, "jobwatchd never logged 'metrics served':\n" + self.daemon.text())
        m = re.search(r"url=\"?http://127\.0\.0\.1:(\d+)/metrics", line[0])
        self.assertIsNotNone(m, line[0])
        self.metrics_port = int(m.group(1))
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        self.prometheus = Prometheus(self.dir, self.metrics_port, [ALERT_RULES])
        self.prometheus.wait_value('up{job="jobwatchd"}', lambda v: v == 1, what="target up")

    def tearDown(self):
        if self.prometheus:
            if self._outcome_failed():
                print("--- prometheus log ---\n" + self.prometheus.log()[-4000:])
                print("--- jobwatchd log ---\n" + self.daemon.text()[-4000:])
            self.prometheus.stop()
            self.prometheus = None
        super().tearDown()

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        return any(test is self for test, _ in result.failures + result.errors)

    def settle_jobs(self):
        """Waits until every scenario job has its final status in Prometheus."""
        p = self.prometheus
        p.wait_value('jobwatch_jobs{status="completed"}', lambda v: v == COMPLETED)
        p.wait_value('jobwatch_jobs{status="failed"}', lambda v: v == 1)
        p.wait_value('jobwatch_jobs{status="not_found"}', lambda v: v == 1)

    def test_values_operators_chart(self):
        p = self.prometheus
        self.settle_jobs()
        self.assertEqual(p.value('jobwatch_jobs{status="processing"}'), 1)
        self.assertEqual(p.value('jobwatch_jobs{status="queued"}'), 1)
        self.assertEqual(p.value('jobwatch_jobs{status="unknown"}'), 0)  # zero-filled
        self.assertEqual(p.value("sum(jobwatch_jobs)"), len(JOBS))
        self.assertEqual(p.value('sum(jobwatch_status_changes_total{to="completed"})'), COMPLETED)
        self.assertEqual(p.value('jobwatch_api_up'), 1)
        # The API series carry the account label: the one account, default.
        self.assertEqual(p.value('jobwatch_api_up{account="default"}'), 1)
        self.assertEqual(p.value('count(jobwatch_polls_total{account="default"})'), 8)
        self.assertEqual(p.value('count(jobwatch_polls_total{account=""})'), None)
        self.assertEqual(p.value('jobwatch_requests_budget_per_second{account="default"}'),
                         BUDGET_PER_SECOND)
        self.assertEqual(p.value('count(jobwatch_requests_total{account="default"})'), 2)
        self.assertEqual(p.value('jobwatch_jobs_overdue{account="default"}'), 0)
        self.assertGreater(p.value('jobwatch_polls_total{result="ok"}'), 0)
        self.assertGreaterEqual(p.value('jobwatch_polls_total{result="not_found"}'), 3)
        self.assertEqual(p.value('jobwatch_polls_total{result="auth_error"}'), 0)  # pre-created
        self.assertEqual(p.value('count(jobwatch_polls_total)'), 8)
        self.assertEqual(p.value('jobwatch_build_info'), 1)
        # One SQLite daemon: its store answers, it is a fleet of one and
        # holds nothing (jobs_held counts PostgreSQL fleets only).
        self.assertEqual(p.value('jobwatch_state_up'), 1)
        self.assertEqual(p.value('jobwatch_fleet_instances'), 1)
        self.assertEqual(p.value('jobwatch_jobs_held'), 0)
        # Per-job series, and the join the dashboard's job table makes.
        self.assertEqual(p.value('jobwatch_job_status{job_id="slow-1"}'), 1)
        self.assertEqual(p.query('jobwatch_job_status{job_id="done-3"}')["result"][0]["metric"]["status"],
                         "completed")
        table = p.query(grafana_to_promql(next(e for t, e in dashboard_expressions()
                                               if t.startswith("Unfinished jobs"))))["result"]
        self.assertEqual(sorted(r["metric"]["job_id"] for r in table), ["slow-1", "waiting-1"])
        for row in table:
            self.assertGreaterEqual(float(row["value"][1]), 0)  # an age in seconds
        # The hook ran once for each completed job.
        p.wait_value('sum(jobwatch_hook_runs_total{hook="notify", result="success"})',
                     lambda v: v == COMPLETED)
        p.wait_value('jobwatch_hooks_pending', lambda v: v == 0)

        # The key is rotated on the API side: 401s, counted and visible.
        self.fake.admin("POST", "/_admin/key?value=rotated-key")
        p.wait_value("jobwatch_api_up", lambda v: v == 0)
        first = p.wait_value('jobwatch_polls_total{result="auth_error"}', lambda v: v > 0)
        p.wait_value('jobwatch_polls_total{result="auth_error"}', lambda v: v > first,
                     what="auth errors to keep growing")
        # What the JobwatchAuthFailing alert evaluates is now true.
        p.wait_value('increase(jobwatch_polls_total{result="auth_error"}[5m]) > 0', lambda v: v > 0)
        self.assertEqual(p.value('jobwatch_jobs{status="processing"}'), 1)  # an outage changes nothing

        # Key fixed: the API is up again (after poll.backoff_max, 2 s here).
        self.fake.admin("POST", f"/_admin/key?value={TEST_KEY}")
        p.wait_value("jobwatch_api_up", lambda v: v == 1)
        self.assertEqual(self.daemon.stop(), 0)

    def test_every_dashboard_and_alert_expression_evaluates(self):
        p = self.prometheus
        self.settle_jobs()
        # A few scrapes in the last minute, so rate() has samples to work on.
        p.wait_value('count_over_time(jobwatch_api_up[1m])', lambda v: v >= 3)

        expressions = dashboard_expressions()
        self.assertGreaterEqual(len(expressions), 15, expressions)
        empty = []
        accounts = {}  # panel title -> the account labels its series show
        for title, expr in expressions:
            promql = grafana_to_promql(expr)
            with self.subTest(panel=title, expr=promql):
                answer = p.api("query", query=promql)
                self.assertEqual(answer.get("status"), "success", answer)
                if not answer["data"]["result"]:
                    empty.append(title)
                for series in answer["data"]["result"]:
                    accounts.setdefault(title, set()).add(series["metric"].get("account"))
        # These panels must show data for a daemon that polled and finished jobs.
        for title in ["API up", "Last successful poll age", "Jobs by status", "Status changes per minute",
                      "Poll rate by result", "Poll latency", "Hook runs by hook and result",
                      "Unfinished jobs (oldest 1000)", "Version", "Config reload",
                      "Request budget used", "API requests by kind vs budget",
                      "Live instances", "Jobs held per instance", "State store up"]:
            self.assertNotIn(title, empty, f"panel {title!r} has no data")
        # The fleet panels of one SQLite daemon: scraped and in-fleet agree.
        fleet = {title: [p.value(grafana_to_promql(e)) for t, e in expressions if t == title]
                 for title in ["Live instances", "Jobs held per instance", "State store up"]}
        self.assertEqual(fleet, {"Live instances": [1, 1], "Jobs held per instance": [0],
                                 "State store up": [1]})
        # Every API panel filters on $account and splits by it.
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        for title, expr in expressions:
            if title in ACCOUNT_PANELS:
                self.assertIn('account=~"$account"', expr, title)
        for title in ACCOUNT_PANELS:
            if title in accounts:
                self.assertEqual(accounts[title], {"default"}, title)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        account_values = p.api("label/account/values", **{"match[]": "jobwatch_api_up"})["data"]
        self.assertEqual(account_values, ["default"])
        self.assertTrue(variables["account"]["multi"] and variables["account"]["includeAll"])

        # The alert rules as Prometheus loaded them: all of them, each
        # evaluated without error by the rule manager and by the query API.
        with open(ALERT_RULES) as f:
            declared = re.findall(r"^\s*- alert:\s*(\w+)", f.read(), re.M)
        self.assertGreaterEqual(len(declared), 8)

        def evaluated_rules():
            groups = p.api("rules")["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return len(rules) == len(declared) and all(r["health"] != "unknown" for r in rules) and rules
        rules = wait_for(evaluated_rules, timeout=30, what="every alert rule evaluated once")
        self.assertEqual(sorted(r["name"] for r in rules), sorted(declared))
        for rule in rules:
            with self.subTest(alert=rule["name"]):
                self.assertEqual(rule["health"], "ok", rule)
                answer = p.api("query", query=rule["query"])
                self.assertEqual(answer.get("status"), "success", answer)
        # Healthy daemon: none of them fires (pending would do too: `for`).
        firing = [r["name"] for r in rules if r["state"] == "firing"]
        self.assertEqual(firing, [], rules)

    def test_exposition_passes_promtool_check_metrics(self):
        self.settle_jobs()
        status, text = http_get(self.metrics_url)
        self.assertEqual(status, 200)
        self.assertIn("jobwatch_build_info{", text)
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=60)
        self.assertEqual((check.returncode, check.stdout + check.stderr), (0, ""))


if __name__ == "__main__":
    unittest.main(verbosity=2)
