#!/usr/bin/env bash
# Builds coach with sanitizers and runs its tests in that build:
#
#   scripts/sanitize.sh address   ASan + UBSan (build-asan, clang): every test
#                                 of the suite and the libFuzzer targets
#                                 (label fuzz, scripts/fuzz.sh)
#   scripts/sanitize.sh thread    TSan (build-tsan, gcc): the actor, store,
#                                 registry and gateway tests (label tsan),
#                                 coachd itself built with TSan
#   ... KIND --build-only [TARGET...]   configure and build, run nothing
#
# Any sanitizer report fails the test it happens in (halt_on_error), and
# tests/check_ledger.sh then proves every listed case ran. Suppressions live
# in tests/sanitizers/ with a comment saying why each is a false positive.
# Warnings are the normal build's job (-Werror there); -O1 builds with
# sanitizers warn falsely (maybe-uninitialized), so not here. clang for
# ASan + UBSan: it instruments UBSan at about half gcc's compile time, and
# libFuzzer is clang's.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
case "$kind" in
  address) dir=build-asan targets=(all) compiler=clang ;;
  thread) dir=build-tsan targets=(actors_test event_store_test nats_api_test replicated_log_test) compiler=gcc ;;
  *)
    echo "usage: scripts/sanitize.sh address | thread [--build-only [TARGET...]]"
    exit 2
    ;;
esac
build_only=false
if [[ "${2:-}" == "--build-only" ]]; then
  build_only=true
  (($# > 2)) && targets=("${@:3}")
fi

if [[ $compiler == clang ]]; then export CC=clang CXX=clang++; else export CC=gcc CXX=g++; fi
# A build folder made with another compiler is made anew.
if [[ -f "$dir/CMakeCache.txt" ]] &&
  ! grep -qxF "CMAKE_CXX_COMPILER:FILEPATH=$(command -v "$CXX")" "$dir/CMakeCache.txt"; then
  rm -rf "$dir"
fi
cmake -S . -B "$dir" -DCOACH_SANITIZE="$kind" >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"
$build_only && exit 0

# Reports go to files (one per process, coachd and the tools included, whose
# own output the tests do not show), printed and counted after the run.
supp="$PWD/tests/sanitizers"
reports="$PWD/$dir/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
common="halt_on_error=1:log_path=$reports/report"
export ASAN_OPTIONS="$common:detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:suppressions=$supp/asan.supp"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="$common:print_stacktrace=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$supp/tsan.supp"

rm -f "$dir"/test-ledger/*.ran
status=0
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 || status=$?
found=("$reports"/report*)
if [[ -e "${found[0]}" ]]; then
  for f in "${found[@]}"; do
    echo "=== sanitizer report $f"
    cat "$f"
  done
  echo "sanitize.sh: ${#found[@]} sanitizer report(s) under $kind (above)"
  status=1
fi
((status == 0)) || exit "$status"
tests/check_ledger.sh "$dir"
