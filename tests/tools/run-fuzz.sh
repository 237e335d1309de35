#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (tests/fuzz, clang 14) and runs each for a
# bounded time. Fails on any crash, leak, UB report or broken invariant.
#
#   FUZZ_SECONDS=30   per target (default 30)
#   FUZZ_TARGETS="job_response config"   a subset (default: all)
#   FUZZ_BUILD_DIR=build/fuzz
#   FUZZ_JOBS=2      targets fuzzed at once (each for its full FUZZ_SECONDS)
#
# Before fuzzing, every saved regression input (tests/fuzz/regressions/T/)
# is replayed. New inputs found while fuzzing go to a temporary corpus, not
# into the repository. A crash leaves its input in $FUZZ_BUILD_DIR/artifacts/;
# keep it as a regression: copy it to tests/fuzz/regressions/<target>/, add a
# unit test in tests/unit/<module>/, fix the bug.
# Needs: clang-14 libclang-rt-14-dev (Debian 12).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-30}
build=${FUZZ_BUILD_DIR:-build/fuzz}
targets=(${FUZZ_TARGETS:-job_response config watchlist duration rate_limit})

if ! command -v clang++-14 >/dev/null; then
  echo "run-fuzz: clang++-14 not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

# Through ccache when installed, keyed as in the top CMakeLists.txt (paths
# relative to the source dir, so clean clones at other paths hit);
# JOBWATCH_CCACHE=OFF opts out.
launcher=()
if [[ ${JOBWATCH_CCACHE:-ON} != OFF ]] && command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v cmake);-E;env;CCACHE_BASEDIR=$PWD;CCACHE_NOHASHDIR=1;$(command -v ccache)")
fi

start=$(date +%s)
cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build "$build" -j2
echo "run-fuzz: built in $(($(date +%s) - start)) s"

# max_len: big enough for every realistic input of that kind, small enough
# to keep the search fast (bodies over 1 MiB never reach the parser).
declare -A max_len=([job_response]=8192 [config]=4096 [watchlist]=4096 [duration]=64 [rate_limit]=128)
declare -A dict=([job_response]=json.dict [config]=yaml.dict [watchlist]=yaml.dict [duration]=duration.dict)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
artifacts="$build/artifacts"
mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# fuzz_one T: replays T's regressions, then fuzzes it; its report goes to
# $work/T.out, and "failed" or "failed (regression)" to $work/T.failed.
fuzz_one() {
  local t=$1 bin="$build/fuzz_$1" regressions="tests/fuzz/regressions/$1"
  if [[ -d $regressions ]] && compgen -G "$regressions/*" >/dev/null; then
    echo "run-fuzz: $t: replaying $(ls "$regressions" | wc -l) regression inputs"
    if ! "$bin" "$regressions"/* >"$work/$t.replay.log" 2>&1; then
      tail -40 "$work/$t.replay.log"
      echo "$t (regression)" >"$work/$t.failed"
      return
    fi
  fi
  mkdir -p "$work/$t"
  local args=(-max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$artifacts/$t-")
  [[ -n ${dict[$t]:-} ]] && args+=(-dict="tests/fuzz/dict/${dict[$t]}")
  echo "run-fuzz: $t: fuzzing for $seconds s"
  if "$bin" "${args[@]}" "$work/$t" "tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$t.log" | tr '\n' ' ' || true
    echo
  else
    tail -60 "$work/$t.log"
    echo "run-fuzz: $t FAILED; reproducer(s): $(ls "$artifacts" | grep "^$t-" | tr '\n' ' ')"
    echo "$t" >"$work/$t.failed"
  fi
}

# libFuzzer runs one thread: FUZZ_JOBS targets at once (default 2, the
# machine's cores), each still for its full FUZZ_SECONDS.
jobs_max=${FUZZ_JOBS:-2} running=0
for t in "${targets[@]}"; do
  if ((running >= jobs_max)); then wait -n || true; running=$((running - 1)); fi
  fuzz_one "$t" >"$work/$t.out" 2>&1 &
  running=$((running + 1))
done
wait
failed=()
for t in "${targets[@]}"; do
  cat "$work/$t.out"
  if [[ -f $work/$t.failed ]]; then failed+=("$(cat "$work/$t.failed")"); fi
done
echo "run-fuzz: done in $(($(date +%s) - start)) s"
if ((${#failed[@]} > 0)); then
  echo "run-fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
