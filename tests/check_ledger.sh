#!/usr/bin/env bash
# After a full CTest run in BUILD_DIR, proves that every test case each doctest
# executable lists ran under CTest: tests/test_main.cpp records each case
# that starts in BUILD_DIR/test-ledger/<executable>.ran, and this compares
# those records with the executable's --list-test-cases. A case CTest never
# ran (a name it split or cannot match, an entry left out) fails here.
#
#   tests/check_ledger.sh BUILD_DIR
set -euo pipefail
build="${1:?usage: tests/check_ledger.sh BUILD_DIR}"
list="$build/doctest-executables.txt"
ledger="$build/test-ledger"
[[ -f "$list" ]] || { echo "check_ledger: no $list (configure the build first)"; exit 1; }

executables=0 listed_total=0 ran_total=0 failures=0
while IFS= read -r exe; do
  [[ -n "$exe" ]] || continue
  name=$(basename "$exe")
  if [[ ! -x "$exe" ]]; then
    echo "check_ledger: $name was not built"
    failures=$((failures + 1))
    continue
  fi
  listed=$("$exe" --list-test-cases | grep -v -e '^\[doctest\] ' -e '^=\{20,\}$' | sort -u)
  ran=$(sort -u "$ledger/$name.ran" 2>/dev/null || true)
  n_listed=$(grep -c . <<<"$listed" || true)
  n_ran=$(comm -12 <(echo "$listed") <(echo "$ran") | grep -c . || true)
  executables=$((executables + 1))
  listed_total=$((listed_total + n_listed))
  ran_total=$((ran_total + n_ran))
  if ((n_ran != n_listed)); then
    failures=$((failures + 1))
    echo "check_ledger: $name lists $n_listed cases, $n_ran ran under CTest; never ran:"
    comm -23 <(echo "$listed") <(echo "$ran") | sed 's/^/  /'
  fi
done <"$list"
echo "check_ledger: $executables doctest executables, $listed_total cases listed, $ran_total ran under CTest"
((failures == 0))
