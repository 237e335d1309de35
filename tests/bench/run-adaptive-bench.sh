#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Adaptive polling benchmark, full run (README "Adaptive polling"): builds
# the simulation (Release, build/bench-release), runs every trace and budget
# (about 4 minutes), prints the table and redraws tests/bench/adaptive-polling.svg.
# Deterministic: the same seed gives the same figures. Then the real run
# (adaptive_real.py: two jobwatchd against two fake APIs, one per strategy,
# about 4 minutes; skipped with ADAPTIVE_REAL=0). Exit status: the
# simulation's (0 when every target is met), or 1 if the real run's harness failed.
#
#   bash tests/bench/run-adaptive-bench.sh [adaptive_sim options: --jobs N --seed S]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${JOBWATCH_BENCH_BUILD_DIR:-$root/build/bench-release}"

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target adaptive_sim -j2 >/dev/null
csv="$build/adaptive.csv"
status=0
"$build/tests/bench/adaptive_sim" --csv "$csv" "$@" || status=$?
python3 "$here/plot_adaptive.py" "$csv" "$here/adaptive-polling.svg"
echo "run-adaptive-bench: figure written to tests/bench/adaptive-polling.svg"
if [[ "${ADAPTIVE_REAL:-1}" != 0 ]]; then
  cmake --build "$build" --target jobwatchd fakeapi -j2 >/dev/null
  python3 "$here/adaptive_real.py" --build-dir "$build" || status=1
fi
exit "$status"
