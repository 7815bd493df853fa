#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, runs every test.
# The last line printed is CTest's summary. Artifacts (the dashboard's
# screenshot) are left in build/test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
COACH_WERROR=ON scripts/setup.sh
scripts/fuzz.sh build  # the fuzz targets CTest runs (tests/fuzz)
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 600
