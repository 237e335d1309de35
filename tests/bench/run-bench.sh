#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# jobwatchd benchmark, one command: builds Release into build/bench-release,
# then runs every figure on loopback in one run (tests/bench/bench.py, whose
# last phase is results_rss.py: RSS while fetching large results) and prints
# the table. Bounded (about 4 minutes after the build plus ~45 s of results
# phase; hard limit 15 minutes); every process it starts is stopped on every
# exit path.
# Exit status 0 when every target is met, 1 otherwise.
#
#   bash tests/bench/run-bench.sh [bench.py options: --rounds N, --nginx, --result-jobs N,
#                                  --result-mib M, --keep, --help]
#
# Needs wrk and python3-requests (and nginx-light for --nginx); installed
# with apt-get when missing and running as root.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${JOBWATCH_BENCH_BUILD_DIR:-$root/build/bench-release}"

need=()
command -v wrk >/dev/null || need+=(wrk)
if [[ " $* " == *" --nginx "* ]]; then [[ -x /usr/sbin/nginx ]] || need+=(nginx-light); fi
/usr/bin/python3 -c 'import requests' 2>/dev/null || need+=(python3-requests)
if ((${#need[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "run-bench: installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "run-bench: missing ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

echo "run-bench: building Release in $build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJOBWATCH_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target jobwatchd fakeapi -- -j"$(nproc)" | tail -n 1
# libcurl alone, for comparison (tests/bench/curl_probe.cpp).
if [[ ! -x "$build/curl_probe" || "$here/curl_probe.cpp" -nt "$build/curl_probe" ]]; then
  c++ -O2 -std=c++20 -Wall -Wextra "$here/curl_probe.cpp" -lcurl -o "$build/curl_probe"
fi

exec /usr/bin/python3 "$here/bench.py" --build-dir "$build" "$@"
