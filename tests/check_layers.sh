#!/usr/bin/env bash
# Checks every quoted #include of every C++ file under SOURCE_DIR against the
# rooms tests/layers.txt allows for the file's room. Prints each violation
# (file:line, what it includes, what its room may include) and exits 1 if
# there is any, or if a file lies in a room the list does not name.
#
#   tests/check_layers.sh SOURCE_DIR [LAYERS_FILE]
set -euo pipefail
root="${1:?usage: tests/check_layers.sh SOURCE_DIR [LAYERS_FILE]}"
layers="${2:-$root/tests/layers.txt}"
[[ -f "$layers" ]] || { echo "check_layers: no $layers"; exit 1; }

declare -A allowed
while IFS= read -r line; do
  line="${line%%#*}"
  [[ "$line" =~ ^[[:space:]]*([a-z_/-]+):(.*)$ ]] || continue
  allowed["${BASH_REMATCH[1]}"]=" ${BASH_REMATCH[1]} $(echo ${BASH_REMATCH[2]}) "
done <"$layers"
((${#allowed[@]})) || { echo "check_layers: $layers names no room"; exit 1; }

# The room of a path: the longest key of `allowed` it starts with.
room_of() {
  local path="$1" best=""
  for room in "${!allowed[@]}"; do
    if [[ "$path" == "$room"/* && ${#room} -gt ${#best} ]]; then best="$room"; fi
  done
  echo "$best"
}

violations=0 files=0
cd "$root"
while IFS= read -r file; do
  file="${file#./}"
  files=$((files + 1))
  room=$(room_of "$file")
  if [[ -z "$room" ]]; then
    echo "check_layers: $file is in no room of $layers"
    violations=$((violations + 1))
    continue
  fi
  while IFS=: read -r number text; do
    include=$(sed 's/^[^"]*"\([^"]*\)".*/\1/' <<<"$text")
    [[ "$include" == */* ]] || continue  # a file beside this one
    target=$(room_of "$include")
    [[ -z "$target" ]] && target="${include%%/*}"
    if [[ "${allowed[$room]}" != *" $target "* ]]; then
      echo "check_layers: $file:$number includes \"$include\": $room may include only${allowed[$room]}"
      violations=$((violations + 1))
    fi
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find . -path ./build -prune -o -path './build-*' -prune -o -path ./.git -prune -o \
           -path ./.coach -prune -o -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cpp.in' \) -print |
         sort)
((files > 0)) || { echo "check_layers: no C++ file under $root"; exit 1; }
if ((violations)); then
  echo "check_layers: $violations violation(s) in $files files"
  exit 1
fi
echo "check_layers: $files files, every include within its room's layers"
