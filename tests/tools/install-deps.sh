#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building, testing and the demo need, from Debian 12's
# packages only. Idempotent: runs apt-get only when something is missing.
# Must run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config python3
  # compiler cache (the top CMakeLists.txt uses it when installed; the cache
  # lives outside the clone, so CI's clean clones share it)
  ccache
  libcurl4-openssl-dev libsimdjson-dev libspdlog-dev libyaml-cpp-dev
  prometheus-cpp-dev zlib1g-dev libsqlite3-dev libsystemd-dev
  libgtest-dev libgmock-dev curl
  prometheus
  # man page (help2man, required at configure time); the .deb (cpack needs
  # dpkg-shlibdeps and file; lintian checks it); systemd-analyze and man for
  # tests/system
  help2man dpkg-dev file lintian systemd man-db
  # tests/system/test_systemd_boot.py: a minimal Debian 12 root booted under
  # a real systemd (label systemd; the root also needs a Debian mirror once)
  debootstrap systemd-container
  # fuzzing: clang 14 with libFuzzer (tests/fuzz, tests/tools/run-fuzz.sh)
  clang-14 libclang-rt-14-dev
  # state.backend postgresql (SPEC "High availability"): the client library,
  # and a real server the tests start on loopback (tests/tools/postgres-server.sh)
  libpq-dev postgresql-15
  # static checks (ctest label lint): .clang-format and .clang-tidy
  clang-format clang-tidy
  # the status page in a real browser (ctest label browser): headless
  # Chromium, driven by Playwright from npm (below; it never downloads a
  # browser)
  # (playwright-core is pinned to a version that runs on Debian 12's node 18)
  chromium nodejs
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's package, unless a nodejs package that bundles it is installed.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Playwright for tests/browser, exactly as locked in package-lock.json, into
# tests/browser/node_modules (gitignored). The browser is Debian's chromium.
browser_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../browser" && pwd)"
lock_version() {
  node -p "require('$browser_dir/package-lock.json').packages['node_modules/playwright-core'].version"
}
installed_version() {
  node -p "require('$browser_dir/node_modules/playwright-core/package.json').version" 2>/dev/null ||
    true
}
if [[ "$(installed_version)" != "$(lock_version)" ]]; then
  echo "install-deps: npm ci in $browser_dir"
  (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
