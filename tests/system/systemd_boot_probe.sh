#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The probe of test_systemd_boot.py: runs inside the booted container as the
# oneshot unit jobwatch-probe.service (ordered after jobwatchd.service, which
# is enabled and so started at boot), checks the installed service under the
# real systemd, writes one line per result to $OUT/results and ends; the
# unit's SuccessAction=/FailureAction= power the container off.
#
#   CHECK <name> PASS|FAIL <what was seen>
#   VALUE <name> <value>
#
# Every wait is a poll with a deadline. Steps build on each other (jobs,
# hook runs), so they run in this order; a failed check does not stop the
# probe, a step whose precondition failed says so in its own checks.
set -u
. /etc/jobwatch-probe/env # FAKE_PORT, JOB_HOOK, JOB_RELOAD, JOB_SLOW, JOB_WATCHDOG
OUT=/var/tmp/jobwatch-probe
RESULTS=$OUT/results
UNIT=jobwatchd.service
RUNS=/var/lib/jobwatchd/hook-runs.log
WEDGE=/run/jobwatchd-test-wedge
CONFIG=/etc/jobwatchd/jobwatchd.yaml
mkdir -p "$OUT"

result() { echo "$*" >>"$RESULTS"; echo "probe: $*"; }
pass() { result "CHECK $1 PASS ${*:2}"; }
fail() { result "CHECK $1 FAIL ${*:2}"; }
# check NAME DETAIL TEST...: PASS or FAIL with DETAIL (what was seen).
check() {
  local name=$1 detail=$2
  shift 2
  if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}
value() { result "VALUE $1 $2"; }
prop() { systemctl show --value -p "$1" "${2:-$UNIT}"; }
props() { systemctl show -p ActiveState,SubState,Result,MainPID,NRestarts,ExecMainStatus "$UNIT" | tr '\n' ' '; }
# wait_for SECONDS COMMAND...: polls every 0.1 s until COMMAND succeeds.
wait_for() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS >= end)) && return 1
    sleep 0.1
  done
}
# Messages of the service (and its hooks) since the cursor in $1 ("" = boot).
unit_log() {
  if [[ -n $1 ]]; then journalctl -q --no-pager -o cat -u "$UNIT" --after-cursor="$1"
  else journalctl -q --no-pager -o cat -u "$UNIT"; fi
}
cursor() { journalctl -q -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
logged() { unit_log "$1" | grep -qF -- "$2"; }
logged_times() { [[ $(unit_log "$1" | grep -cF -- "$2") -ge $3 ]]; }
is_state() { [[ $(prop ActiveState) == "$1" && $(prop SubState) == "$2" ]]; }
ran() { grep -qx "$1 $2 .*" "$RUNS" 2>/dev/null; }
# The fake API's admin interface, over bash's /dev/tcp (no curl here).
fake_set() {
  local reply
  exec 3<>"/dev/tcp/127.0.0.1/$FAKE_PORT" || return 1
  printf 'POST /_admin/jobs/%s?status=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' \
    "$1" "$2" >&3
  reply=$(cat <&3)
  exec 3<&-
  [[ $reply == "HTTP/1.1 200"* ]]
}

step_boot() {
  result "BEGIN"
  wait_for 90 eval '[[ $(prop ActiveState) != activating ]]'
  check boot.active "$(props)" is_state active running
  # Timings for the boot-to-READY figure. (That active follows READY=1 is
  # step_ready_order's check: journald stamps entries when it reads them, so
  # a log line's time cannot order it against the notification.)
  value userspace_start_usec "$(systemctl show --value -p UserspaceTimestampMonotonic)"
  value exec_start_usec "$(prop ExecMainStartTimestampMonotonic)"
  value ready_usec "$(prop ActiveEnterTimestampMonotonic)"
  local status
  status=$(systemctl status --no-pager "$UNIT" 2>&1)
  check boot.status_line "$(grep -m1 'Status:' <<<"$status" || echo "no Status: line in: $status")" \
    grep -q 'Status: ".*"' <<<"$status"
}

# With systemd's debug log: the unit goes start -> running only after the
# daemon's READY=1 reached PID 1.
step_ready_order() {
  local c lines start_line ready_line running_line
  c=$(cursor)
  systemd-analyze log-level debug
  systemctl restart "$UNIT"
  local rc=$?
  systemd-analyze log-level info
  lines=$(journalctl -q --no-pager -o cat _PID=1 --after-cursor="$c" | grep -F "$UNIT:")
  start_line=$(grep -n -m1 -e '-> start$' <<<"$lines" | cut -d: -f1)
  ready_line=$(grep -n -m1 'notification message.*READY=1' <<<"$lines" | cut -d: -f1)
  running_line=$(grep -n -m1 'Changed start -> running' <<<"$lines" | cut -d: -f1)
  check ready.order "restart rc=$rc; PID 1 log lines: '-> start' #${start_line:-none},\
 READY=1 #${ready_line:-none}, 'start -> running' #${running_line:-none}" \
    eval '((rc == 0)) && [[ -n $start_line && -n $ready_line && -n $running_line ]] &&
          ((start_line < ready_line && ready_line < running_line))'
}

step_hook_and_journal() {
  # Its history must start "processing": switch it only once it was seen so
  # (its first poll after the restart above is spread over one interval).
  wait_for 30 eval '[[ -n $(journalctl -q -u "$UNIT" JOBWATCH_STATUS=processing JOBWATCH_JOB_ID="$JOB_HOOK") ]]'
  fake_set "$JOB_HOOK" completed || fail hook.ran "fake API admin request failed"
  wait_for 30 ran record "$JOB_HOOK"
  check hook.ran "hook-runs.log: $(tr '\n' ';' <"$RUNS" 2>&1)" ran record "$JOB_HOOK"
  local line uid target
  line=$(grep -m1 "^record $JOB_HOOK " "$RUNS" 2>/dev/null)
  uid=$(sed -n 's/.* uid=\([0-9]*\).*/\1/p' <<<"$line")
  # DynamicUser=: a transient UID (61184-65519), state under /var/lib/private.
  target=$(readlink /var/lib/jobwatchd)
  check hook.sandbox "run: '$line'; /var/lib/jobwatchd -> ${target:-not a symlink}" \
    eval '[[ $line == *" etc=read-only"* && -n $uid ]] && ((uid >= 61184 && uid <= 65519)) &&
          [[ $target == private/jobwatchd && -f /var/lib/private/jobwatchd/hook-runs.log ]] &&
          [[ ! -e /etc/jobwatchd/hook-wrote-here ]]'
  wait_for 10 eval '[[ -n $(journalctl -q -u "$UNIT" JOBWATCH_STATUS=completed JOBWATCH_JOB_ID="$JOB_HOOK") ]]'
  local by_status by_job
  by_status=$(journalctl -q --no-pager -o export -u "$UNIT" JOBWATCH_STATUS=completed |
    grep '^JOBWATCH_JOB_ID=' | sort -u | tr '\n' ' ')
  check journal.by_status "JOBWATCH_STATUS=completed entries name: ${by_status:-nothing}" \
    test "$by_status" = "JOBWATCH_JOB_ID=$JOB_HOOK "
  by_job=$(journalctl -q --no-pager -o export -u "$UNIT" JOBWATCH_JOB_ID="$JOB_HOOK" |
    grep -e '^JOBWATCH_STATUS=' -e '^JOBWATCH_HOOK=' | sort -u | tr '\n' ' ')
  # The job's history (first seen processing, then completed) and its hook's output.
  check journal.by_job "JOBWATCH_JOB_ID=$JOB_HOOK entries carry: ${by_job:-nothing}" \
    eval '[[ $by_job == *JOBWATCH_HOOK=record* && $by_job == *JOBWATCH_STATUS=completed* &&
            $by_job == *JOBWATCH_STATUS=processing* ]]'
}

step_reload() {
  local pid c out rc
  pid=$(prop MainPID)
  c=$(cursor)
  cp /etc/jobwatch-probe/reloaded.yaml "$CONFIG"
  out=$(systemctl reload "$UNIT" 2>&1)
  rc=$?
  check reload.exit0 "systemctl reload: rc=$rc ${out:-(no output)}" test "$rc" = 0
  wait_for 15 logged "$c" "configuration reloaded"
  check reload.logged "$(unit_log "$c" | grep -m2 -e reload -e invalid | tr '\n' ';')" \
    logged "$c" "configuration reloaded"
  check reload.same_process "MainPID $pid -> $(prop MainPID); $(props)" \
    eval '[[ $(prop MainPID) == "$pid" ]] && is_state active running'
  # The new config adds the hook after-reload: it runs for the next job.
  fake_set "$JOB_RELOAD" completed || fail reload.takes_effect "fake API admin request failed"
  wait_for 30 ran after-reload "$JOB_RELOAD"
  check reload.takes_effect "hook-runs.log: $(tr '\n' ';' <"$RUNS")" ran after-reload "$JOB_RELOAD"
}

step_bad_reload() {
  local pid c out rc
  pid=$(prop MainPID)
  c=$(cursor)
  cp /etc/jobwatch-probe/invalid.yaml "$CONFIG"
  out=$(systemctl reload "$UNIT" 2>&1)
  rc=$?
  wait_for 15 logged "$c" "reload failed"
  check bad_reload.logged "rc=$rc; $(unit_log "$c" | grep -m3 -e invalid -e 'reload failed' | tr '\n' ';')" \
    eval '((rc == 0)) && logged "$c" "reload failed: still running on the previous configuration" &&
          logged "$c" "jobwatchd.yaml:"'
  check bad_reload.keeps_running "MainPID $pid -> $(prop MainPID); $(props)" \
    eval '[[ $(prop MainPID) == "$pid" ]] && is_state active running'
  c=$(cursor)
  cp /etc/jobwatch-probe/reloaded.yaml "$CONFIG"
  systemctl reload "$UNIT"
  wait_for 15 logged "$c" "configuration reloaded"
  check bad_reload.recovers "$(unit_log "$c" | grep -m1 reload)" logged "$c" "configuration reloaded"
}

step_watchdog() {
  local pid c new_pid t0 t1 runs dups
  pid=$(prop MainPID)
  c=$(cursor)
  t0=$SECONDS
  touch "$WEDGE"
  # WatchdogSec=30s, then RestartSec=5s.
  wait_for 75 eval '[[ $(prop NRestarts) == 1 && $(prop MainPID) != "$pid" && $(prop MainPID) != 0 ]] &&
                    is_state active running'
  t1=$SECONDS
  new_pid=$(prop MainPID)
  rm -f "$WEDGE"
  value watchdog_restart_seconds $((t1 - t0))
  check watchdog.restarted "after $((t1 - t0)) s: MainPID $pid -> $new_pid; $(props)" \
    eval '[[ $(prop NRestarts) == 1 && $new_pid != "$pid" ]] && is_state active running'
  local why
  why=$(journalctl -q --no-pager -o cat _PID=1 --after-cursor="$c" | grep -F "$UNIT:" |
    grep -m6 -i -e watchdog -e 'Scheduled restart' | tr '\n' ';')
  check watchdog.by_watchdog "PID 1 said: ${why:-nothing about a watchdog}" \
    eval '[[ $why == *"Failed with result '"'watchdog'"'"* && $why == *"restart counter is at 1."* ]]'
  # The restarted daemon works (a new job's hooks run) and ran no old hook again.
  fake_set "$JOB_WATCHDOG" completed || fail watchdog.no_hook_rerun "fake API admin request failed"
  wait_for 30 eval 'ran record "$JOB_WATCHDOG" && ran after-reload "$JOB_WATCHDOG"'
  runs=$(cut -d' ' -f1,2 "$RUNS" | sort | tr '\n' ';')
  dups=$(cut -d' ' -f1,2 "$RUNS" | sort | uniq -d | tr '\n' ';')
  check watchdog.no_hook_rerun "runs (hook job): $runs duplicates: ${dups:-none}" \
    test "$runs" = "$(printf '%s\n' "after-reload $JOB_RELOAD" "after-reload $JOB_WATCHDOG" \
      "record $JOB_HOOK" "record $JOB_RELOAD" "record $JOB_WATCHDOG" | sort | tr '\n' ';')"
}

step_stop_with_hook() {
  local hook_pid out rc t0 t1
  fake_set "$JOB_SLOW" completed || fail stop.hook_running "fake API admin request failed"
  wait_for 30 eval '[[ -s /var/lib/jobwatchd/slow-hook.pid ]] &&
                    [[ -d /proc/$(cat /var/lib/jobwatchd/slow-hook.pid) ]]'
  hook_pid=$(cat /var/lib/jobwatchd/slow-hook.pid 2>/dev/null)
  check stop.hook_running "slow hook pid ${hook_pid:-none}" eval '[[ -n $hook_pid && -d /proc/$hook_pid ]]'
  t0=$(date +%s%N)
  out=$(systemctl stop "$UNIT" 2>&1)
  rc=$?
  t1=$(date +%s%N)
  local ms=$(((t1 - t0) / 1000000))
  value stop_ms "$ms"
  check stop.clean "systemctl stop: rc=$rc in ${ms} ms ${out}; $(props) ExecMainCode=$(prop ExecMainCode)" \
    eval '((rc == 0 && ms < 45000)) && [[ $(prop Result) == success && $(prop ExecMainStatus) == 0 &&
          $(prop ExecMainCode) == 1 && $(prop ActiveState) == inactive ]]'
  check stop.hook_gone "slow hook pid $hook_pid after stop: $([[ -d /proc/$hook_pid ]] && echo alive || echo gone)" \
    eval '[[ -n $hook_pid && ! -d /proc/$hook_pid ]]'
}

step_broken_config() {
  local out rc c
  c=$(cursor)
  cp /etc/jobwatch-probe/invalid.yaml "$CONFIG"
  out=$(systemctl start "$UNIT" 2>&1)
  rc=$?
  wait_for 15 eval '[[ $(prop ActiveState) == failed ]]'
  # A unit that will be restarted sits in SubState auto-restart; failed is final.
  check broken.no_restart_loop "systemctl start rc=$rc; $(props)" \
    eval '((rc != 0)) && [[ $(prop ActiveState) == failed && $(prop SubState) == failed &&
          $(prop Result) == exit-code && $(prop ExecMainStatus) == 1 ]]'
  check broken.names_file_and_line "$(unit_log "$c" | grep -m1 'jobwatchd.yaml:')" logged "$c" "jobwatchd.yaml:"
}

step_purge() {
  local out rc left=() kept=()
  out=$(DEBIAN_FRONTEND=noninteractive dpkg --purge jobwatchd 2>&1)
  rc=$?
  for p in /usr/sbin/jobwatchd /lib/systemd/system/jobwatchd.service /etc/jobwatchd/jobwatchd.yaml \
    /etc/jobwatchd/jobs.yaml /etc/jobwatchd/hooks/notify-done /usr/share/doc/jobwatchd \
    /var/lib/jobwatchd /var/lib/private/jobwatchd \
    /etc/systemd/system/multi-user.target.wants/jobwatchd.service; do
    [[ -e $p || -L $p ]] && left+=("$p")
  done
  # The operator's own files stay: the API key, hooks and drop-ins they added.
  for p in /etc/jobwatchd/api-key /etc/jobwatchd/hooks/probe-record /etc/systemd/system/jobwatchd.service.d; do
    [[ -e $p ]] || kept+=("$p")
  done
  check purge.removes "dpkg --purge rc=$rc; left behind: ${left[*]:-nothing}; $(tail -n 3 <<<"$out" | tr '\n' ';')" \
    eval '((rc == 0 && ${#left[@]} == 0))'
  check purge.keeps_operator_files "missing: ${kept[*]:-nothing}" eval '((${#kept[@]} == 0))'
  check purge.unit_gone "LoadState=$(prop LoadState)" test "$(prop LoadState)" = not-found
}

step_boot
step_ready_order
step_hook_and_journal
step_reload
step_bad_reload
step_watchdog
step_stop_with_hook
step_broken_config
step_purge
journalctl -b --no-pager -o short-monotonic >"$OUT/journal.txt" 2>&1
result "END"
