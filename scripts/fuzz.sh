#!/usr/bin/env bash
# libFuzzer for the code that reads bytes from outside (tests/fuzz). The
# targets are built in the clang ASan + UBSan build (build-asan/).
#   scripts/fuzz.sh build                        configure build-asan, build the targets
#   scripts/fuzz.sh run TARGET [SECONDS [BUILD]]  fuzz TARGET (command_decoder,
#                                                stored_event, coachctl_dates) for SECONDS (60) on
#                                                a copy of its seed corpus; exits
#                                                with the fuzzer's status (0: no
#                                                finding); BUILD: build-asan
# A crash leaves its input in BUILD/crash-TARGET-* and exits non-zero: fix
# it and add the input to tests/fuzz/corpus/TARGET as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  build)
    scripts/sanitize.sh address --build-only command_decoder_fuzz stored_event_fuzz \
      coachctl_dates_fuzz crash_selftest_fuzz
    ;;
  run)
    target="$2"
    seconds="${3:-60}"
    build="${4:-build-asan}"
    binary="$build/tests/fuzz/${target}_fuzz"
    [[ -x "$binary" ]] || { echo "no $binary: run scripts/fuzz.sh build first"; exit 2; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir "$work/corpus"
    cp tests/fuzz/corpus/"$target"/* "$work/corpus"/
    # The fuzzer's own exit status is the verdict: non-zero when it found a
    # crash, a leak, a timeout or a sanitizer report. Taken before anything
    # else runs, so no later command can reset it. libFuzzer's default error
    # code is 77, which CTest may read as "skipped": findings exit 1. The
    # sanitizers report to the fuzzer's output here, not to report files.
    status=0
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:log_path=stderr" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:log_path=stderr" \
      "$binary" -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
      -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$build/crash-$target-" \
      "$work/corpus" >"$work/log" 2>&1 || status=$?
    grep -E "^(stat::number_of_executed_units|stat::peak_rss|==.*ERROR|SUMMARY|Done)|deadly|crash-" \
      "$work/log" || :
    if ((status != 0)); then
      echo "fuzz.sh: $target failed with exit code $status; the fuzzer's last lines:"
      tail -n 40 "$work/log"
    fi
    exit $((status == 77 ? 1 : status))
    ;;
  *)
    echo "usage: scripts/fuzz.sh build | run TARGET [SECONDS [BUILD]]"
    exit 2
    ;;
esac
