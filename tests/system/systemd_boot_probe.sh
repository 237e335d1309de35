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
SOCKET=/run/jobwatchd/control.sock # control.socket's default, in RuntimeDirectory=
RESULT=/var/lib/jobwatchd/results/$JOB_HOOK.json # results.dir's default
RESULT_HOOK_DIR=/var/lib/jobwatchd/result-hook   # what the result hook saw
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
# fake_get PATH FILE: the body of GET PATH (with the API key, as the daemon
# sends it) into FILE; fails unless the answer is 200.
fake_get() {
  local key
  key=$(tr -d '\n' </etc/jobwatchd/api-key)
  exec 3<>"/dev/tcp/127.0.0.1/$FAKE_PORT" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nConnection: close\r\n\r\n' \
    "$1" "$key" >&3
  cat <&3 >"$2.http"
  exec 3<&-
  head -n 1 "$2.http" | grep -q '^HTTP/1.1 200' && sed '1,/^\r$/d' "$2.http" >"$2"
}
# cli OUT ARGS...: runs `jobwatchd ARGS` as root (the default --config);
# stdout in $OUT.out, stderr in $OUT.err, returns its exit code.
cli() {
  local out=$1
  shift
  /usr/sbin/jobwatchd "$@" >"$out.out" 2>"$out.err"
}
# snip N FILE: the first N bytes of FILE on one line (for a CHECK's detail).
snip() { head -c "$1" "$2" 2>&1 | tr '\n' ' '; }
# The (from, to) pairs of a `show --json` answer, in order: "a>b c>d ".
transitions_of() { grep -o '"from":"[^"]*","to":"[^"]*"' "$1" | sed 's/"from":"\([^"]*\)","to":"\([^"]*\)"/\1>\2/' | tr '\n' ' '; }

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

# The operator commands, as root, answered by the running unit over its
# control socket in RuntimeDirectory=.
step_control() {
  local sock rc
  sock=$(stat -c '%a %F %U' "$SOCKET" 2>&1)
  check control.socket "$SOCKET: $sock; /run/jobwatchd: $(stat -c '%a %U' /run/jobwatchd 2>&1)" \
    eval '[[ $sock == "660 socket "* ]]'
  cli "$OUT/status" status --json
  rc=$?
  check control.status_live "jobwatchd status --json: rc=$rc $(snip 600 "$OUT/status.out") \
stderr: $(snip 300 "$OUT/status.err")" \
    eval '((rc == 0 || rc == 1)) && grep -q "\"live\":true" "$OUT/status.out" &&
          grep -q "\"jobs\":4" "$OUT/status.out"'
  cli "$OUT/show" show "$JOB_HOOK" --json
  rc=$?
  local pairs text_rc
  pairs=$(transitions_of "$OUT/show.out")
  cli "$OUT/show-text" show "$JOB_HOOK"
  text_rc=$?
  check control.show_transitions "show --json rc=$rc transitions: ${pairs:-none}; show rc=$text_rc \
stderr: $(snip 300 "$OUT/show.err")" \
    eval '((rc == 0 && text_rc == 0)) && [[ $pairs == "unknown>processing processing>completed " ]] &&
          grep -q "\"live\":true" "$OUT/show.out" && grep -q "^Transitions" "$OUT/show-text.out"'
}

# jw-hook's with_result hook (run by step_hook_and_journal's completion):
# the daemon fetched the result once into results.dir and handed it over.
step_result() {
  wait_for 30 test -s "$RESULT_HOOK_DIR/$JOB_HOOK.env"
  local env fetches
  env=$(cat "$RESULT_HOOK_DIR/$JOB_HOOK.env" 2>&1)
  check result.hook_env "result hook saw: $env" \
    test "$env" = "file=$RESULT error=none mode=640"
  # The fake's count of /result requests for the job, before our own below.
  fake_get "/_admin/requests?job=$JOB_HOOK" "$OUT/requests"
  fetches=$(grep -o '"result_count":[0-9]*' "$OUT/requests" 2>/dev/null)
  check result.one_fetch "fake API: ${fetches:-no count in $(snip 300 "$OUT/requests.http")}" \
    test "$fetches" = '"result_count":1'
  local served copy
  fake_get "/jobs/$JOB_HOOK/result" "$OUT/served"
  served=$(wc -c <"$OUT/served" 2>&1)
  copy=$(wc -c <"$RESULT_HOOK_DIR/$JOB_HOOK.copy" 2>&1)
  check result.content "fake served $served bytes ($(snip 60 "$OUT/served")...); \
the hook read $copy bytes from JOBWATCH_RESULT_FILE; $RESULT: $(wc -c <"$RESULT" 2>&1) bytes" \
    eval '[[ -s $OUT/served ]] && cmp -s "$OUT/served" "$RESULT_HOOK_DIR/$JOB_HOOK.copy" &&
          cmp -s "$OUT/served" "$RESULT"'
  # StateDirectory= with DynamicUser=: the real place is /var/lib/private.
  local real mode
  real=$(readlink -f "$RESULT")
  mode=$(stat -c '%a %F' "$RESULT" 2>&1)
  check result.file_mode "$RESULT -> $real: $mode; dir $(stat -c %a "$(dirname "$real")" 2>&1)" \
    eval '[[ $mode == "640 regular file" && $real == /var/lib/private/jobwatchd/results/$JOB_HOOK.json ]]'
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
      "record $JOB_HOOK" "record $JOB_RELOAD" "record $JOB_WATCHDOG" "result $JOB_HOOK" |
      sort | tr '\n' ';')"
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

# With the unit stopped (RuntimeDirectory= and the socket gone): the
# commands say so with exit 3 and read the state database read-only.
step_fallback() {
  local rc json_rc show_rc
  cli "$OUT/fb-status" status
  rc=$?
  cli "$OUT/fb-status-json" status --json
  json_rc=$?
  check fallback.status_exit3 "unit $(prop ActiveState); $SOCKET $([[ -e $SOCKET ]] && echo exists || echo gone); \
status rc=$rc (--json rc=$json_rc) stderr: $(snip 400 "$OUT/fb-status.err")" \
    eval '((rc == 3 && json_rc == 3)) && grep -q "not running" "$OUT/fb-status.err"'
  # The jobs as the state file has them: all four completed by now.
  check fallback.reads_state "status --json: $(snip 600 "$OUT/fb-status-json.out") \
stderr: $(snip 300 "$OUT/fb-status-json.err"); status: $(snip 400 "$OUT/fb-status.out")" \
    eval 'grep -q "\"live\":false" "$OUT/fb-status-json.out" && grep -q "\"jobs\":4" "$OUT/fb-status-json.out" &&
          grep -q "\"completed\":4" "$OUT/fb-status-json.out" && grep -q completed "$OUT/fb-status.out"'
  cli "$OUT/fb-show" show "$JOB_HOOK" --json
  show_rc=$?
  local pairs
  pairs=$(transitions_of "$OUT/fb-show.out")
  check fallback.show "show --json rc=$show_rc transitions: ${pairs:-none} \
stderr: $(snip 300 "$OUT/fb-show.err")" \
    eval '((show_rc == 3)) && [[ $pairs == "unknown>processing processing>completed " ]]'
  # Reading as root must leave nothing root-owned (a -shm, say) in the
  # DynamicUser's state directory: the service could not open it again.
  local owned
  owned=$(find /var/lib/private/jobwatchd -user 0 2>&1 | tr '\n' ' ')
  check fallback.no_root_owned_files "root-owned: ${owned:-none}; $(ls -ln /var/lib/private/jobwatchd | tr '\n' ';')" \
    test -z "$owned"
}

# control.group under the unit (stopped by now): its system call filter
# refuses chown, so without the service in that group the start fails with
# exit 1 naming the fix; with a drop-in Group=GROUP (DynamicUser= uses a
# static group of that name) the socket is the group's, whose members may
# use it and nobody else.
step_control_group() {
  local c out rc sock ops_rc other_rc
  groupadd jobwatch-ops && useradd -M -N -G jobwatch-ops jw-operator && useradd -M -N jw-outsider
  # JOB_SLOW's hook may run again at this start (it was killed by the stop).
  printf '#!/bin/sh\nexit 0\n' >/etc/jobwatchd/hooks/probe-slow
  { cat /etc/jobwatch-probe/reloaded.yaml; printf 'control:\n  group: jobwatch-ops\n'; } >"$CONFIG"
  c=$(cursor)
  out=$(systemctl start "$UNIT" 2>&1)
  rc=$?
  wait_for 15 eval '[[ $(prop ActiveState) == failed ]]'
  check control_group.without_group_fails "systemctl start rc=$rc; $(props); \
$(unit_log "$c" | grep -m1 'control' | cut -c1-400)" \
    eval '((rc != 0)) && [[ $(prop ActiveState) == failed && $(prop ExecMainStatus) == 1 ]] &&
          logged "$c" "Group=jobwatch-ops" && logged "$c" "control.group"'
  printf '[Service]\nGroup=jobwatch-ops\n' >/etc/systemd/system/jobwatchd.service.d/60-control-group.conf
  systemctl daemon-reload
  systemctl reset-failed "$UNIT"
  out=$(systemctl start "$UNIT" 2>&1)
  rc=$?
  wait_for 15 test -S "$SOCKET"
  sock=$(stat -c '%a %F %G' "$SOCKET" 2>&1)
  check control_group.socket "start rc=$rc $out; $SOCKET: $sock; $(props)" \
    eval '((rc == 0)) && [[ $sock == "660 socket jobwatch-ops" ]] && is_state active running'
  setpriv --reuid="$(id -u jw-operator)" --regid="$(id -g jw-operator)" --init-groups \
    /usr/sbin/jobwatchd status --json >"$OUT/ops.out" 2>"$OUT/ops.err"
  ops_rc=$?
  check control_group.member_may "jw-operator ($(id jw-operator)): status rc=$ops_rc \
$(snip 300 "$OUT/ops.out") stderr: $(snip 300 "$OUT/ops.err")" \
    eval '((ops_rc == 0 || ops_rc == 1)) && grep -q "\"live\":true" "$OUT/ops.out"'
  setpriv --reuid="$(id -u jw-outsider)" --regid="$(id -g jw-outsider)" --init-groups \
    /usr/sbin/jobwatchd status >"$OUT/outsider.out" 2>"$OUT/outsider.err"
  other_rc=$?
  check control_group.others_may_not "jw-outsider ($(id jw-outsider)): status rc=$other_rc \
stderr: $(snip 400 "$OUT/outsider.err")" \
    eval '((other_rc == 1)) && grep -q "Permission denied" "$OUT/outsider.err" &&
          grep -q "control.group" "$OUT/outsider.err" && [[ ! -s $OUT/outsider.out ]]'
  systemctl stop "$UNIT"
  rm /etc/systemd/system/jobwatchd.service.d/60-control-group.conf
  systemctl daemon-reload
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
step_control
step_result
step_reload
step_bad_reload
step_watchdog
step_stop_with_hook
step_fallback
step_control_group
step_broken_config
step_purge
journalctl -b --no-pager -o short-monotonic >"$OUT/journal.txt" 2>&1
result "END"
