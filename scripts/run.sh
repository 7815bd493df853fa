#!/usr/bin/env bash
# Installs what is missing, builds, and runs coach with its data in ./.coach.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p .coach/data
exec build/apps/coachd/coachd --data-dir .coach/data "$@"
