#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors and runs every
# test: the whole suite (unit, e2e) in build/, then again under ASan + UBSan
# with the fuzzers (build-asan/), then the actor, store, registry and gateway tests
# under TSan (build-tsan/). After each CTest run tests/check_ledger.sh proves
# that every listed test case ran. The last line sums up all three runs.
# Artifacts (the dashboard's screenshot) are left in build/test-artifacts/.
#
# Only the fast part, while working:  ctest --test-dir build -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
log=build-test.log
: >"$log"
started=$SECONDS
COACH_WERROR=ON scripts/setup.sh
rm -f build/test-ledger/*.ran
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600 | tee -a "$log"
tests/check_ledger.sh build
scripts/sanitize.sh address | tee -a "$log"
scripts/sanitize.sh thread | tee -a "$log"

# Each run ends "NN% tests passed, F tests failed out of T".
read -r passed failed < <(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)$/\1 \2/p' "$log" |
  awk '{f += $1; p += $2 - $1} END {print p + 0, f + 0}')
skipped=$(grep -c '(Skipped)$' "$log" || true)  # CTest counts them as passed
echo "test.sh: 3 runs (build, asan, tsan) in $((SECONDS - started)) s"
echo "test.sh: $((passed - skipped)) passed, $failed failed, $skipped skipped"
