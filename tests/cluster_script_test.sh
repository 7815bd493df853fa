#!/usr/bin/env bash
# scripts/cluster.sh as a person runs it: three nats-servers and three
# coachd sharing the partitions, coachctl through the command line the
# script prints, `coachctl ops cluster` showing the three members, a
# coachd killed with SIGKILL while coachctl goes on working, then Ctrl-C
# (SIGINT to the script's process group) stopping everything.
#   tests/cluster_script_test.sh <source dir> <build dir>
set -euo pipefail
root=$1
build=$2
home=$(mktemp -d)
pid=""
cleanup() {
  [[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
  pkill -KILL -f -- "$home" 2>/dev/null || true
  rm -rf "$home"
}
trap cleanup EXIT
fail() {
  echo "cluster_script_test: $*" >&2
  echo "--- cluster.sh output" >&2
  cat "$home/out" >&2 || true
  for log in "$home"/coachd-*.log; do
    echo "--- $log" >&2
    tail -n 15 "$log" >&2 || true
  done
  exit 1
}

# A base port with its three client ports and three route ports free.
free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
base=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 28000))
  ok=1
  for i in 0 1 2; do free $((candidate + i)) && free $((candidate + 2000 + i)) || ok=0; done
  if [[ $ok == 1 ]]; then
    base=$candidate
    break
  fi
done
[[ -n "$base" ]] || fail "no free ports"

setsid env COACH_CLUSTER_HOME="$home" COACH_SKIP_SETUP=1 COACH_BUILD_DIR="$build" \
  COACH_CLUSTER_PORT="$base" COACH_PARTITIONS=8 XDG_CONFIG_HOME="$home/config" \
  "$root/scripts/cluster.sh" --lease-ttl-ms 3000 >"$home/out" 2>&1 &
pid=$!
for _ in $(seq 1200); do
  grep -q "coach cluster: try it:" "$home/out" && break
  kill -0 "$pid" 2>/dev/null || fail "cluster.sh exited before the cluster was up"
  sleep 0.1
done
grep -q "share 8 partitions" "$home/out" || fail "cluster.sh did not start three sharing coachd"

# coachctl as the script says, nothing from the environment.
ctl=$(sed -n 's/^coach cluster: try it:  \(.*\) register .*/\1/p' "$home/out")
[[ -n "$ctl" ]] || fail "cluster.sh printed no coachctl command line"
as() {  # $1: the command line, then coachctl's arguments
  local line=$1
  shift
  (cd / && env -u COACH_TOKEN -u COACH_TOKEN_FILE -u COACH_NATS_URL -u COACH_NATS_CREDS \
    -u COACH_TLS_DIR -u COACH_PLAINTEXT -u COACH_USER -u COACH_CONFIG \
    XDG_CONFIG_HOME="$home/no-config" $line "$@")
}
coachctl() { as "$ctl" "$@"; }
# The same line with an admin token instead of the user's.
admin_ctl() { as "${ctl% --token-file *} --token-file $home/admin.token" "$@"; }
until_ok() {  # retries "$@" for 30 s: a partition may be moving
  for _ in $(seq 60); do
    "$@" && return 0
    sleep 0.5
  done
  return 1
}
until_ok coachctl register --email cluster@example.com --timezone Europe/Berlin >/dev/null ||
  fail "coachctl register failed"
until_ok coachctl add "Water the plants" --due tomorrow >/dev/null || fail "coachctl add failed"
coachctl next | grep -q "Water the plants" || fail "coachctl next does not list the task"

# The cluster as coachctl ops cluster shows it: three members, each owning some.
ctl_bin="$build/apps/coachctl/coachctl"
(umask 077 && "$ctl_bin" admin token --key-file "$home/nodes/token.key" \
  --user "$("$ctl_bin" new-user-id)" --role admin --ttl 1h >"$home/admin.token")
shared() {
  admin_ctl ops cluster >"$home/cluster.out" || return 1
  grep -q "partitioned: 8 partitions, log R3" "$home/cluster.out" || return 1
  grep -q "members            3:" "$home/cluster.out" || return 1
  for i in 0 1 2; do
    local id
    id=$(cat "$home/nodes/coachd-$i/node.id" 2>/dev/null) && [[ -n "$id" ]] || return 1
    grep -q "^$id " "$home/cluster.out" || return 1
  done
  ! grep -q "(moving)" "$home/cluster.out"
}
until_ok shared || { cat "$home/cluster.out" >&2; fail "ops cluster does not show three members sharing 8 partitions"; }

# SIGKILL of one coachd: its partitions move, the task is still there.
read -r -a pids < <(sed -n 's/.*(pids \([0-9 ]*\)) share.*/\1/p' "$home/out") || true
[[ ${#pids[@]} == 3 ]] || fail "cluster.sh did not print three coachd pids"
kill -KILL "${pids[1]}"
lists_the_task() { coachctl next | grep -q "Water the plants"; }
until_ok lists_the_task ||
  fail "after SIGKILL of one coachd the task was not served again within 30 s"

# Ctrl-C: the two left hand their partitions off and stop, then the servers.
kill -INT -- "-$pid"
for _ in $(seq 600); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "cluster.sh still running 60 s after Ctrl-C"
wait "$pid" || true
pid=""
grep -q "coach cluster: stopped" "$home/out" || fail "cluster.sh did not say it stopped"
for i in 0 2; do
  grep -q '"msg":"stopped"' "$home/coachd-$i.log" || fail "coachd-$i did not stop gracefully"
done
if pgrep -f -- "$home" >/dev/null; then
  pgrep -af -- "$home" >&2
  fail "processes of this cluster are still alive after Ctrl-C"
fi
echo "cluster_script_test: three coachd shared 8 partitions, coachctl worked through a SIGKILL, Ctrl-C stopped everything"
