#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The newcomer demo: installs what is needed, builds, starts the bundled fake
# Unsiloed API with a scenario, and runs jobwatchd against it until every job
# is finished, so you watch status changes being logged. No API key needed
# (the fake API accepts any). Everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

bash tests/tools/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

work=$(mktemp -d /tmp/jobwatchd-demo.XXXXXX)
cleanup() {
  [[ -n ${daemon_pid:-} ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [[ -n ${fake_pid:-} ]] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  true
}
trap cleanup EXIT

build=$root/build/release
"$build/tests/fakeapi/fakeapi" --scenario "$root/tests/fakeapi/scenarios/demo.yaml" \
  --listen 127.0.0.1:0 --port-file "$work/port" >"$work/fakeapi.log" 2>&1 &
fake_pid=$!
for _ in $(seq 100); do [[ -s $work/port ]] && break; sleep 0.1; done
port=$(cat "$work/port")

sed -e "s|@BASE_URL@|http://127.0.0.1:$port|" -e "s|@WORK@|$work|g" -e "s|@ROOT@|$root|g" \
  "$root/tests/demo/demo-config.yaml" >"$work/jobwatchd.yaml"
cp "$root/tests/demo/demo-jobs.yaml" "$work/jobs.yaml"

echo
echo "== fake Unsiloed API on http://127.0.0.1:$port; jobwatchd config: $work/jobwatchd.yaml"
UNSILOED_API_KEY=demo-key "$build/src/jobwatchd" --check-config --config "$work/jobwatchd.yaml"
echo "== jobwatchd running (Ctrl-C stops it; it stops by itself once every job is finished)"
UNSILOED_API_KEY=demo-key "$build/src/jobwatchd" --config "$work/jobwatchd.yaml" \
  2> >(tee "$work/daemon.log" >&2) &
daemon_pid=$!

# Stop once every job has finished and its hook has run (bounded: 60 s).
expected=$(grep -c '^  - ' "$work/jobs.yaml")
for _ in $(seq 600); do
  sleep 0.1
  kill -0 "$daemon_pid" 2>/dev/null || break
  finished=$(grep -cE 'to=(completed|failed|not_found|timed_out|cancelled)' "$work/daemon.log" 2>/dev/null || true)
  hooked=$(grep -cE 'hook (succeeded|failed permanently)' "$work/daemon.log" 2>/dev/null || true)
  # notify-done for every job, archive-result for each completed one.
  completed=$(grep -cE 'to=completed' "$work/daemon.log" 2>/dev/null || true)
  [[ $finished -ge $expected && $hooked -ge $((expected + completed)) ]] && break
done
url=$(grep -o 'metrics served url=[^ ]*' "$work/daemon.log" | head -1 | cut -d= -f2)
echo
echo "== Prometheus metrics at $url (a few of them):"
curl -s "$url" | grep -E '^jobwatch_(jobs|status_changes_total|hook_runs_total|polls_total\{account="default",result="ok"|api_up|requests_total|requests_budget_per_second|result_fetches_total\{account="default",result="ok")' | head -24
echo
echo "== The status page: ${url%/metrics}/ (open it in a browser while the daemon runs)"
echo
echo "== jobwatchd status, one job's history (jobwatchd show) and jobwatchd jobs, asked of the running daemon:"
"$build/src/jobwatchd" status --config "$work/jobwatchd.yaml" || true
echo
"$build/src/jobwatchd" show --config "$work/jobwatchd.yaml" b2094b38-e432-44b6-a5d0-67bed07d5de1 || true
echo
"$build/src/jobwatchd" jobs --config "$work/jobwatchd.yaml" || true
echo
echo "== Adding a job while it runs: jobwatchd add writes into the drop directory"
UNSILOED_API_KEY=demo-key "$build/src/jobwatchd" add --config "$work/jobwatchd.yaml" \
  --label source=demo 0f2e4d6c-8b1a-4f3e-9d5c-7a6b5c4d3e2f
for _ in $(seq 50); do grep -q "drop files taken" "$work/daemon.log" && break; sleep 0.1; done
sleep 0.5
kill -TERM "$daemon_pid" 2>/dev/null || true
wait "$daemon_pid" || true
daemon_pid=
echo
echo "== done: jobwatchd stopped. What the notify-done hook wrote:"
ls -1 "$work/notifications"
echo
echo "== Results fetched (results.dir) and what the archive-result hook copied:"
ls -l "$work/results" "$work/archive"
echo
echo "== Start it again: the state in $work/state.db says every job is finished,"
echo "== so --once polls nothing and no hook runs twice:"
UNSILOED_API_KEY=demo-key "$build/src/jobwatchd" --once --config "$work/jobwatchd.yaml" 2>/dev/null || true
