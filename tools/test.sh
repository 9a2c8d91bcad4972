#!/usr/bin/env bash
# Install what is missing, build, and run every test: the unit and integration suites, the same
# suites under ASan+UBSan, the fuzz smoke run and format-check. Exits non-zero on any failure.
# FUZZ_SECONDS (default 60) sets the length of each fuzz target's smoke run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
start=$(date +%s)
status=0

step() {
	echo
	echo "==== $* ($(($(date +%s) - start)) s)"
}

# Print the logs of failed tests so that CI output shows why.
show_failures() {
	for log in $(grep -l '^:test-result: FAIL\|^:test-result: ERROR' "$1"/test/*.trs "$1"/interop/*.trs 2>/dev/null); do
		echo "---- ${log%.trs}.log"
		tail -n 60 "${log%.trs}.log"
	done
}

step "build (gcc, -Werror)"
"$top/tools/setup.sh"
step "unit and integration tests"
make -C "$top/build" -s -j"$jobs" check || { show_failures "$top/build"; status=1; }

step "build (ASan + UBSan)"
BUILD_DIR=build-asan CONFIGURE_ARGS="--enable-asan" "$top/tools/setup.sh"
step "unit and integration tests under ASan + UBSan"
# The million-message restart test runs in full above; under ASan the same paths at a fifth.
WARREN_MILLION=200000 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -C "$top/build-asan" -s -j"$jobs" check || { show_failures "$top/build-asan"; status=1; }

step "build (clang, libFuzzer)"
BUILD_DIR=build-fuzz CONFIGURE_ARGS="CC=clang --enable-fuzzing" "$top/tools/setup.sh"
step "fuzz smoke run"
make -C "$top/build-fuzz" -s fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-60}" || status=1

step "format-check"
make -C "$top/build" -s format-check || status=1

step "done: $( [ $status -eq 0 ] && echo passed || echo FAILED )"
exit $status
