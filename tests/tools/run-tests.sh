#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite, from a fresh Debian 12 machine (as root): installs
# the packages, then
#   1. builds the dev preset and runs every ctest test (unit, integration
#      against the fake API, a real Prometheus, systemd unit checks, the .deb);
#   2. runs the suite under ASan+UBSan and the concurrency tests under TSan
#      (tests/tools/run-sanitizers.sh);
#   3. runs each libFuzzer target for FUZZ_SECONDS (tests/tools/run-fuzz.sh).
# This is what CI runs (.ci/run). Prints how long each phase took.
#   SKIP_SANITIZERS=1 / SKIP_FUZZ=1 leave those phases out (local runs).
set -euo pipefail
cd "$(dirname "$0")/../.."

t0=$(date +%s)
phase() { echo; echo "=== $1 ($(($(date +%s) - t0)) s since start)"; }

phase "install packages"
bash tests/tools/install-deps.sh

# The compiler cache (ccache, used by every build when installed) lives
# outside the clone, so CI's clean clones share it; bounded here.
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
if command -v ccache >/dev/null; then ccache --zero-stats >/dev/null; fi

phase "build and test (dev preset)"
# Every tool a test needs was installed above: a test that would skip fails.
export JOBWATCH_NO_SKIP=1
cmake --preset dev
cmake --build --preset dev
ctest --preset dev

if [[ -z ${SKIP_SANITIZERS:-} ]]; then
  phase "sanitizers"
  bash tests/tools/run-sanitizers.sh
fi
if [[ -z ${SKIP_FUZZ:-} ]]; then
  phase "fuzzing"
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash tests/tools/run-fuzz.sh
fi
if command -v ccache >/dev/null; then
  echo "ccache this run: $(ccache --print-stats | awk -F'\t' '
    $1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { hit += $2 }
    $1 == "cache_miss" { miss = $2 } END { printf "%d hits, %d misses", hit, miss }')"
fi
phase "all passed"
