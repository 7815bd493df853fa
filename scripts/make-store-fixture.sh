#!/usr/bin/env bash
# Writes a small coach data dir made by this release of coach, with what it
# must read back, for tests/store_fixture_test.cpp (issue 21, "schema
# evolution"): a later coach must read these logs unchanged on disk, fold
# them to the same tasks and keep writing after them.
#
#   scripts/make-store-fixture.sh OUT_DIR     (after a build in build/)
#
# It runs coach as a person does (scripts/run.sh on a temp home: nats-server,
# coachd), drives it with coachctl through every kind of event a user makes
# (register, preferences, create with tags, edit, snooze, note, complete,
# reopen, delete, restore, a plan block accepted and one rejected, nudges on
# demand and a rating), stops it with Ctrl-C, then writes to OUT_DIR:
#   data/events/   the RocksDB store (without RocksDB's info logs)
#   master.key, token.key   this fixture's own keys (test data, no secret)
#   user           the user's id
#   tasks.json     coach-replay tasks --format json over the store
#   made-by.txt    the commit and date it was made
# Keep old fixtures: each proves a released format is still read.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${COACH_BUILD_DIR:-$root/build}
out=${1:?usage: scripts/make-store-fixture.sh OUT_DIR}
[[ -e "$out" ]] && { echo "make-store-fixture: $out exists; remove it first" >&2; exit 2; }
home=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT

port=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 30000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[[ -n "$port" ]] || { echo "make-store-fixture: no free port" >&2; exit 1; }

setsid env -u COACH_CONFIG COACH_HOME="$home" COACH_SKIP_SETUP=1 COACH_BUILD_DIR="$build" \
  XDG_CONFIG_HOME="$home/config" COACH_NATS_PORT="$port" COACH_GRPC_PORT=0 COACH_HTTP_PORT=0 \
  "$root/scripts/run.sh" --ops-port 0 >"$home/run.out" 2>&1 &
pid=$!
for _ in $(seq 600); do
  grep -q "coach: ops dashboard" "$home/run.out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$home/run.out" >&2; exit 1; }
  sleep 0.1
done

ctl() { XDG_CONFIG_HOME="$home/config" "$build/apps/coachctl/coachctl" "$@" >/dev/null; }
report=11111111-1111-4111-8111-111111111111
plants=22222222-2222-4222-8222-222222222222
taxes=33333333-3333-4333-8333-333333333333
ctl register --email fixture@example.com --timezone Europe/Berlin
ctl prefs --work-hours "daily 00:00-24:00" --tracking on --mode roast --humor 4
ctl add "Write the report" --id "$report" --due +3d --estimate 90m --priority 3 --tag work,writing
ctl add "Water the plants" --id "$plants" --due +1d --estimate 15m --category home
ctl add "File the taxes" --id "$taxes" --due +10d --estimate 2h --tag admin
ctl edit "$report" --title "Write the quarterly report" --tag work,writing,q4
ctl snooze "$plants" --for 2h --reason "out"
ctl note "$report" "outline done"
ctl done "$plants"
ctl reopen "$plants"
ctl done "$plants"
ctl delete "$taxes"
ctl restore "$taxes"
ctl schedule accept 1
ctl send schedule.get '{}' >/dev/null
ctl nudge now
ctl nudge now "$report"
ctl nudge rate 1 4
kill -INT -- "-$pid"
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid" || true
pid=""

mkdir -p "$out/data"
cp -r "$home/data/events" "$out/data/"
rm -f "$out"/data/events/LOG*
cp "$home/master.key" "$home/token.key" "$out/"
analyst=$("$build/apps/coachctl/coachctl" new-user-id)
token=$("$build/apps/coachctl/coachctl" admin token --key-file "$out/token.key" --user "$analyst" \
  --role analyst --ttl 1h)
COACH_TOKEN="$token" "$build/apps/coach-replay/coach-replay" --data-dir "$out/data" --format json \
  tasks >"$out/tasks.json"
COACH_TOKEN="$token" "$build/apps/coach-replay/coach-replay" --data-dir "$out/data" --format csv \
  scores >/dev/null  # every event decodes
sed -n 's/.*"user_id": *"\([^"]*\)".*/\1/p' "$out/tasks.json" | head -1 >"$out/user"
[[ -s "$out/user" ]] || { echo "make-store-fixture: no user in tasks.json" >&2; exit 1; }
echo "made by $(git -C "$root" rev-parse --short HEAD) on $(date -u +%F)" >"$out/made-by.txt"
echo "make-store-fixture: wrote $out ($(du -sh "$out" | cut -f1))"
