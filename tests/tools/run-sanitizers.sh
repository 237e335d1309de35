#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs the tests under sanitizers (presets in CMakePresets.json):
#
#   asan  Debug, -fsanitize=address,undefined: the whole ctest suite except
#         the `bench` label (figures, meaningless under ASan; the binaries they
#         run are covered by the integration tests) and the `soak` label (test_resources.py measures RSS, which ASan's
#         quarantine and shadow memory make meaningless, and it would take
#         several minutes). Integration tests run the sanitized jobwatchd
#         and fakeapi of that build. LeakSanitizer on; UBSan halts on the
#         first report.
#   tsan  -fsanitize=thread: the concurrency-relevant unit tests (state
#         writer, hook runner, child processes, metrics, curl transport
#         incl. wake()) and the integration tests that exercise the threads
#         (polling, hooks). The test selection is the tsan test preset's;
#         the tsan build preset builds only the targets those tests run
#         (tests/tools/check-test-filter.py proves none went missing).
#
#   SANITIZERS="asan tsan"   phases to run (default: both)
#
# Prints how long each phase took (build and test). Exit status: non-zero if
# any build or test failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

phases=(${SANITIZERS:-asan tsan})
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

declare -a summary
status=0
for phase in "${phases[@]}"; do
  case $phase in
    asan | tsan) ;;  # what each runs is its test preset's filter
    *) echo "run-sanitizers: unknown phase '$phase' (asan, tsan)" >&2; exit 2 ;;
  esac
  t0=$(date +%s)
  cmake --preset "$phase" >/dev/null
  if ! cmake --build --preset "$phase"; then
    summary+=("$phase: BUILD FAILED after $(($(date +%s) - t0)) s")
    status=1
    continue
  fi
  t1=$(date +%s)
  # The tsan build preset builds only its tests' targets: prove that no name
  # of the test filter lost its tests (a binary left out is not discovered).
  if [[ $phase == tsan ]] && ! python3 tests/tools/check-test-filter.py tsan; then
    summary+=("$phase: a test filter name selects no test (build preset targets?)")
    status=1
    continue
  fi
  if ctest --preset "$phase"; then result=passed; else result=FAILED; status=1; fi
  t2=$(date +%s)
  summary+=("$phase: build $((t1 - t0)) s, tests $((t2 - t1)) s ($result)")
done
echo
echo "run-sanitizers summary:"
printf '  %s\n' "${summary[@]}"
exit $status
