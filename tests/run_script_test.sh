#!/usr/bin/env bash
# scripts/run.sh as a person runs it: started, then Ctrl-C, which a terminal
# sends as SIGINT to the script's whole process group. coachd must stop
# before nats-server (its stopping, drained and stopped lines reach its
# log), nothing may be left running, and a second start appends to the log.
# The first start writes coachctl's config file, with which coachctl works
# from any directory, with no flags; the second keeps it.
#   tests/run_script_test.sh <source dir> <build dir>
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
  echo "run_script_test: $*" >&2
  echo "--- run.sh output" >&2
  cat "$home/run.out" >&2 || true
  echo "--- coachd.log" >&2
  tail -n 30 "$home/coachd.log" >&2 || true
  exit 1
}

# A loopback port nobody listens on.
port=""
for _ in $(seq 50); do
  candidate=$((20000 + RANDOM % 30000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[[ -n "$port" ]] || fail "no free port"

count() { grep -c "\"msg\":\"$1\"" "$home/coachd.log" 2>/dev/null || true; }

start() {  # $1: the number of "ready" lines the log must reach
  setsid env -u COACH_CONFIG COACH_HOME="$home" COACH_SKIP_SETUP=1 COACH_BUILD_DIR="$build" \
    XDG_CONFIG_HOME="$home/config" \
    COACH_NATS_PORT="$port" COACH_GRPC_PORT=0 COACH_HTTP_PORT=0 "$root/scripts/run.sh" --ops-port 0 >>"$home/run.out" 2>&1 &
  pid=$!
  for _ in $(seq 600); do
    [[ "$(count ready)" -ge "$1" ]] && grep -q "coach: ops dashboard" "$home/run.out" && return
    kill -0 "$pid" 2>/dev/null || fail "run.sh exited before coachd was ready"
    sleep 0.1
  done
  fail "coachd not ready within 60 s"
}

ctrl_c() {  # $1: the number of "stopped" lines the log must then hold
  kill -INT -- "-$pid"
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "run.sh still running 30 s after Ctrl-C"
  wait "$pid" || true
  pid=""
  for line in stopping drained stopped; do
    [[ "$(count "$line")" == "$1" ]] || fail "coachd.log holds $(count "$line") '$line' lines, not $1"
  done
  # coachd drained with NATS still up: every request answered, no lost bus.
  grep '"msg":"drained"' "$home/coachd.log" | tail -n 1 | grep -q '"requests_unanswered":0' ||
    fail "coachd's drain left requests unanswered"
  if pgrep -f -- "$home" >/dev/null; then
    pgrep -af -- "$home" >&2
    fail "processes of this run are still alive after Ctrl-C"
  fi
  grep -q "Server Exiting" "$home/nats-server.log" || fail "nats-server did not stop cleanly"
  # In that order: nats-server exited after coachd had stopped. (nats-server
  # writes local time, coachd UTC; date reads each as such.)
  local stopped exited
  stopped=$(grep '"msg":"stopped"' "$home/coachd.log" | tail -n 1 | sed 's/.*"ts":"\([^"]*\)".*/\1/')
  exited=$(grep "Server Exiting" "$home/nats-server.log" | tail -n 1 |
    sed -E 's/^\[[0-9]+\] ([0-9]{4})\/([0-9]{2})\/([0-9]{2}) ([0-9:.]+) .*/\1-\2-\3 \4/')
  [[ "$(date -d "$exited" +%s%3N)" -ge "$(date -d "$stopped" +%s%3N)" ]] ||
    fail "nats-server exited ($exited) before coachd had stopped ($stopped)"
}

# coachctl as a person runs it once run.sh is up: from another directory,
# no flags, nothing in the environment but where the config file is.
coachctl() {
  (cd / && env -u COACH_TOKEN -u COACH_TOKEN_FILE -u COACH_NATS_URL -u COACH_NATS_CREDS \
    -u COACH_TLS_DIR -u COACH_PLAINTEXT -u COACH_USER -u COACH_CONFIG \
    XDG_CONFIG_HOME="$home/config" "$build/apps/coachctl/coachctl" "$@")
}

start 1
conf="$home/config/coach/coachctl.conf"
[[ -f "$conf" ]] || fail "run.sh wrote no config file for coachctl"
grep -qx "nats-url = tls://127.0.0.1:$port" "$conf" || fail "the config names another NATS URL"
[[ "$(stat -c %a "$home/config/coach/token")" == 600 ]] || fail "coachctl's token is not mode 0600"
coachctl register --email anywhere@example.com --timezone Europe/Berlin >/dev/null ||
  fail "coachctl register from / with the config file failed"
coachctl add "Water the plants" --due "tomorrow 9am" | grep -q "^  due .* 09:00 CE[S]*T" ||
  fail "coachctl add did not echo the due date in the profile's zone"
coachctl next | grep -q "Water the plants" || fail "coachctl next does not list the task"
grep -q "coach: gRPC: coach.v1.CoachService on 127.0.0.1:[0-9]* (TLS" "$home/run.out" ||
  fail "run.sh did not start coach-gateway"
# Its health over TLS, trusting the local CA (Debian's python3-grpcio).
grpc=$(sed -n 's/^coach: gRPC: coach.v1.CoachService on \([0-9.:]*\) .*/\1/p' "$home/run.out" | tail -n 1)
/usr/bin/python3 - "$grpc" "$home/tls/ca.pem" <<'PY' || fail "coach-gateway's health check over TLS failed"
import sys, grpc
channel = grpc.secure_channel(sys.argv[1], grpc.ssl_channel_credentials(open(sys.argv[2], "rb").read()))
assert channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5) == b"\x08\x01"
PY
# And its JSON mapping over HTTPS: a call without a token is refused as coach refuses it.
https=$(sed -n 's/^coach: JSON over HTTPS for browsers: \(https:[0-9.:/]*\)\/coach.v1.*/\1/p' "$home/run.out" | tail -n 1)
[[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$home/tls/ca.pem" -H 'Content-Type: application/json' \
  -d '{}' "$https/coach.v1.CoachService/TaskList")" == 401 ]] || fail "the JSON mapping over HTTPS did not answer 401 without a token"
# The web client: its page over HTTPS with a strict CSP, signed in as coachctl's user.
web=$(sed -n 's/^coach: web client (as coachctl.s user; .*): \(https:[0-9.:/]*\)\/#token=.*/\1/p' "$home/run.out" | tail -n 1)
[[ -n "$web" ]] || fail "run.sh did not print the web client's address with a token"
web_token=$(sed -n 's/^coach: web client .*#token=\(.*\)$/\1/p' "$home/run.out" | tail -n 1)
[[ "$web_token" == "$(cat "$home/config/coach/token")" ]] || fail "the web client's link holds another token than coachctl's"
curl -s -D "$home/web.headers" -o "$home/web.html" --cacert "$home/tls/ca.pem" "$web/" ||
  fail "the web client's page could not be fetched over HTTPS"
grep -q "<title>coach</title>" "$home/web.html" || fail "the web client's page is not served over HTTPS"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$home/web.headers" ||
  fail "the web client's page has no strict Content-Security-Policy"
ctrl_c 1
cp "$conf" "$home/conf.first"
start 2  # the log was appended to: the first start's lines are still there
[[ "$(count ready)" == 2 ]] || fail "the second start overwrote coachd.log"
cmp -s "$conf" "$home/conf.first" || fail "the second start rewrote coachctl's config"
coachctl list | grep -q "Water the plants" || fail "the second start's coachctl sees another user"
ctrl_c 2
echo "run_script_test: Ctrl-C stopped coachd, then nats-server; the log was appended to; coachctl worked from / with the config run.sh wrote"
