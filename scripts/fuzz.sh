#!/usr/bin/env bash
# libFuzzer for the code that reads bytes from outside (tests/fuzz).
#   scripts/fuzz.sh build                  clang build of the targets in build-fuzz
#   scripts/fuzz.sh run TARGET [SECONDS]   fuzz TARGET (command_decoder,
#                                          stored_event) for SECONDS (60) on a
#                                          copy of its seed corpus; exits with
#                                          the fuzzer's status (0: no finding)
# A crash leaves its input in build-fuzz/crash-TARGET-* and exits non-zero:
# fix it and add the input to tests/fuzz/corpus/TARGET as a regression seed.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  build)
    CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCOACH_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >build-fuzz.configure.log 2>&1 ||
      { cat build-fuzz.configure.log; exit 1; }
    cmake --build build-fuzz -j"$(nproc)"
    ;;
  run)
    target="$2"
    seconds="${3:-60}"
    binary="build-fuzz/tests/fuzz/${target}_fuzz"
    [[ -x "$binary" ]] || { echo "no $binary: run scripts/fuzz.sh build first"; exit 77; }
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir "$work/corpus"
    cp tests/fuzz/corpus/"$target"/* "$work/corpus"/
    # The fuzzer's own exit status is the verdict: non-zero when it found a
    # crash, a leak, a timeout or a sanitizer report. Taken before anything
    # else runs, so no later command can reset it. libFuzzer's default error
    # code is 77, which CTest would read as "skipped": findings exit 1.
    status=0
    "$binary" -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
      -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="build-fuzz/crash-$target-" "$work/corpus" >"$work/log" 2>&1 || status=$?
    grep -E "^(stat::number_of_executed_units|stat::peak_rss|==.*ERROR|SUMMARY|Done)|deadly|crash-" \
      "$work/log" || :
    if ((status != 0)); then
      echo "fuzz.sh: $target failed with exit code $status; the fuzzer's last lines:"
      tail -n 40 "$work/log"
    fi
    exit $((status == 77 ? 1 : status))
    ;;
  *)
    echo "usage: scripts/fuzz.sh build | run TARGET [SECONDS]"
    exit 2
    ;;
esac
