#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors and runs every
# test: the whole suite (unit, e2e, fuzz) in build/, then again under ASan +
# UBSan (build-asan/), then the actor, store, registry and gateway tests
# under TSan (build-tsan/). After each CTest run tests/check_ledger.sh proves
# that every listed test case ran. Artifacts (the dashboard's screenshot)
# are left in build/test-artifacts/.
#
# Only the fast part, while working:  ctest --test-dir build -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
COACH_WERROR=ON scripts/setup.sh
scripts/fuzz.sh build  # the fuzz targets CTest runs (tests/fuzz)
rm -f build/test-ledger/*.ran
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
tests/check_ledger.sh build
