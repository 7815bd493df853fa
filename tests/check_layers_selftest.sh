#!/usr/bin/env bash
# Proves check_layers.sh fails where it must: on a small tree with one
# include up the stack and one file outside every room it exits 1 and names
# both; on the same tree without them it exits 0.
set -euo pipefail
check="$(dirname "$0")/check_layers.sh"
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/tests" "$tree/events" "$tree/actors" "$tree/stray"
printf 'events: schema\nactors: events schema\ntests: actors events\n' >"$tree/tests/layers.txt"
printf '#include "events/store.h"\n#include <vector>\n' >"$tree/actors/node.cpp"
printf '#include "actors/node.h"\n' >"$tree/events/store.cpp"
printf 'int x;\n' >"$tree/stray/x.cpp"
set +e
out=$("$check" "$tree" 2>&1)
status=$?
set -e
echo "$out"
[[ $status -eq 1 ]] || { echo "selftest: expected exit 1, got $status"; exit 1; }
grep -q 'events/store.cpp:1 includes "actors/node.h"' <<<"$out" || { echo "selftest: the upward include went unnamed"; exit 1; }
grep -q 'stray/x.cpp is in no room' <<<"$out" || { echo "selftest: the stray file went unnamed"; exit 1; }
rm -r "$tree/stray" "$tree/events/store.cpp"
"$check" "$tree" || { echo "selftest: a clean tree failed"; exit 1; }
echo "selftest: check_layers.sh catches violations"
