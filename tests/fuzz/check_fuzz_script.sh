#!/usr/bin/env bash
# Proves that scripts/fuzz.sh reports a crashing target: it runs the fuzz
# script on crash_selftest (a target that overflows a heap buffer on its seed
# input) and passes only if the script exits non-zero, not with 77 (CTest's
# "skipped"), prints the sanitizer's report and leaves the crash input.
#   tests/fuzz/check_fuzz_script.sh [BUILD]   (BUILD: build-asan)
set -uo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-asan}"
rm -f "$build"/crash-crash_selftest-*
output=$(scripts/fuzz.sh run crash_selftest 20 "$build" 2>&1)
status=$?
echo "$output"
fail() { echo "check_fuzz_script: $*"; exit 1; }
((status != 0)) || fail "fuzz.sh exited 0 on a crashing target"
((status != 77)) || fail "fuzz.sh exited 77, which CTest reads as skipped"
grep -q "ERROR: AddressSanitizer: heap-buffer-overflow" <<<"$output" ||
  fail "fuzz.sh did not show the sanitizer's report"
compgen -G "$build/crash-crash_selftest-*" >/dev/null || fail "no crash input was kept"
rm -f "$build"/crash-crash_selftest-*
echo "check_fuzz_script: fuzz.sh failed with exit code $status on a crash, as it must"
