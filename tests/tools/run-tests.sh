#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: install packages,
# build (Debug preset), run ctest. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/tools/install-deps.sh
cmake --preset dev
cmake --build --preset dev
ctest --preset dev
