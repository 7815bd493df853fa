#!/usr/bin/env bash
# Installs what is missing, builds, and runs coach: a nats-server on loopback
# (JetStream on and encrypted at rest, TLS with client certificates from a
# local CA, and bus authorization: every program has its own NATS identity
# with only the rights its role needs, all made on the first run), coachd,
# one coach-deliver per channel that writes outbound notifications to
# .coach/outbox/<channel>.jsonl, and coach-gateway (the API over gRPC); all
# keep their data under ./.coach. Ctrl-C stops them cleanly. Extra arguments go to coachd (see
# coachd --help), e.g. --llm-url http://127.0.0.1:8080 for a local llama.cpp
# server (without one, nudges come from templates).
#
#   COACH_NATS_PORT=4222 (default)   the loopback port nats-server listens on
#   COACH_HOME=.coach (default)       where keys, data, logs and outboxes live
#   COACH_SKIP_SETUP=1                run what is built, without scripts/setup.sh
#   COACH_BUILD_DIR=build (default)   where the programs were built
#
#   COACH_GRPC_PORT=50051 (default)  where coach-gateway serves gRPC (0: any free port)
#   COACH_HTTP_PORT=8443 (default)   and its JSON mapping over HTTPS, for browsers
#
# Ctrl-C (or SIGTERM) stops the delivery gateways and coach-gateway, then coachd (which drains
# and snapshots while NATS is still there), then nats-server: nats-server
# runs in its own session so the terminal's Ctrl-C does not stop it first.
# coachd's log is appended to, each start after the last.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${COACH_SKIP_SETUP:-}" == 1 ]] || scripts/setup.sh
home="${COACH_HOME:-.coach}"

port="${COACH_NATS_PORT:-4222}"
url="tls://127.0.0.1:${port}"
bin="${COACH_BUILD_DIR:-build}/apps"
coachctl="$bin"/coachctl/coachctl
if [[ -d "$home"/nats && ! -d "$home"/bus ]]; then
  # A store from before bus authorization: plaintext, in another account.
  mv "$home"/nats "$home/nats.plaintext-$(date +%s)"
  echo "coach: the old JetStream store (plaintext) was moved to $home/nats.plaintext-*; delete it"
fi
mkdir -p "$home"/data "$home"/nats
scripts/make-certs.sh "$home"/tls
# The bus authority (wire/bus_identity.h): nats-server's config with the
# JetStream key, and one identity per program, each file mode 0600.
"$coachctl" admin bus-init --dir "$home"/bus --store-dir "$home"/nats >/dev/null
for role in coachd client; do
  [[ -f "$home"/bus/$role.creds ]] || "$coachctl" admin bus-creds --dir "$home"/bus --role "$role" \
    --name "$role" --out "$home/bus/$role.creds"
done

setsid nats-server -c "$home"/bus/server.conf -a 127.0.0.1 -p "$port" \
  --tlsverify --tlscert "$home"/tls/server.pem --tlskey "$home"/tls/server.key \
  --tlscacert "$home"/tls/ca.pem >"$home"/nats-server.log 2>&1 &
nats_pid=$!
coachd_pid=""
tail_pid=""
deliver_pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${deliver_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${deliver_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "$coachd_pid" ]] && kill -TERM "$coachd_pid" 2>/dev/null && wait "$coachd_pid" 2>/dev/null || true
  kill -TERM "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
  [[ -n "$tail_pid" ]] && kill "$tail_pid" 2>/dev/null || true
  echo "coach: stopped"
}
trap stop INT TERM EXIT

for _ in $(seq 100); do
  grep -q "Server is ready" "$home"/nats-server.log 2>/dev/null && break
  kill -0 "$nats_pid" 2>/dev/null || { cat "$home"/nats-server.log; exit 1; }
  sleep 0.1
done
echo "coach: nats-server on $url, TLS with client certificates ($home/tls), identities in $home/bus (log: $home/nats-server.log)"

# This start's lines of the log are those after `first`: it is appended to.
touch "$home"/coachd.log
first=$(($(wc -l <"$home"/coachd.log) + 1))
"$bin"/coachd/coachd --data-dir "$home"/data --nats-url "$url" \
  --nats-creds "$home"/bus/coachd.creds "$@" >>"$home"/coachd.log 2>&1 &
coachd_pid=$!
# The terminal shows this start's log; the file gets every line from coachd
# itself, the last ones of a shutdown included.
tail -n "+$first" -f "$home"/coachd.log &
tail_pid=$!
this_start() { tail -n "+$first" "$home"/coachd.log 2>/dev/null; }
for _ in $(seq 200); do  # coach-deliver binds to the consumers coachd makes
  [[ -f "$home"/token.key ]] && this_start | grep -q "\"msg\":\"ready\"" && break
  kill -0 "$coachd_pid" 2>/dev/null || { echo "coach: coachd did not start (log: $home/coachd.log)"; exit 1; }
  sleep 0.1
done
mkdir -p "$home"/outbox
chmod 700 "$home"/outbox
# The gateways' token and NATS identities live 2 h in files only this user
# reads (never on a command line); they are renewed every hour. coach-deliver
# rereads the token, and nats.c rereads the identity when it reconnects.
issue_deliver_token() {
  (umask 077 && "$coachctl" admin token --key-file "$home"/token.key \
    --user "$("$coachctl" new-user-id)" --role delivery --ttl 2h \
    >"$home"/deliver.token.new && mv "$home"/deliver.token.new "$home"/deliver.token)
  for channel in push email sms; do
    "$coachctl" admin bus-creds --dir "$home"/bus --role deliver --channel "$channel" --ttl 2h \
      --name "deliver-$channel" --out "$home/bus/deliver-$channel.creds"
  done
}
issue_deliver_token
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while true; do
    sleep 3600 &
    nap=$!
    wait "$nap"
    issue_deliver_token
  done
) &
deliver_pids+=($!)
for channel in push email sms; do
  "$bin"/coach-deliver/coach-deliver --channel "$channel" --nats-url "$url" \
    --tls-dir "$home"/tls --nats-creds "$home/bus/deliver-$channel.creds" \
    --token-file "$home"/deliver.token --out "$home/outbox/$channel.jsonl" \
    2>>"$home"/deliver.log &
  deliver_pids+=($!)
done
echo "coach: notifications go to $home/outbox/{push,email,sms}.jsonl (coach-deliver)"
# coach-gateway: the API over gRPC, TLS from the same local CA, with a NATS
# identity of its own (docs/api.md, "gRPC"), issued at each start so that
# a home made by an older coach gets the role's current rights.
"$coachctl" admin bus-creds --dir "$home"/bus --role gateway --name coach-gateway \
  --out "$home"/bus/gateway.creds
touch "$home"/gateway.log
gateway_first=$(($(wc -l <"$home"/gateway.log) + 1))
"$bin"/coach-gateway/coach-gateway --listen "127.0.0.1:${COACH_GRPC_PORT:-50051}" \
  --http-listen "127.0.0.1:${COACH_HTTP_PORT:-8443}" --nats-url "$url" \
  --allow-origin "https://localhost:${COACH_HTTP_PORT:-8443}" \
  --tls-dir "$home"/tls --nats-creds "$home"/bus/gateway.creds 2>>"$home"/gateway.log &
deliver_pids+=($!)
grpc=""
for _ in $(seq 100); do
  grpc=$(tail -n "+$gateway_first" "$home"/gateway.log | grep -o '"grpc":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
  [[ -n "$grpc" ]] && break
  kill -0 "${deliver_pids[-1]}" 2>/dev/null || break
  sleep 0.1
done
if [[ -n "$grpc" ]]; then
  http=$(tail -n "+$gateway_first" "$home"/gateway.log | grep -o '"http":"[^"]*"' | head -1 | cut -d'"' -f4 || true)
  echo "coach: gRPC: coach.v1.CoachService on $grpc (TLS, trust $home/tls/ca.pem; log: $home/gateway.log)"
  echo "coach: JSON over HTTPS for browsers: $http/coach.v1.CoachService/<Method> (docs/api.md)"
else
  echo "coach: coach-gateway did not start (log: $home/gateway.log)"
fi
# coachctl's config file (first run only), so that it works from anywhere.
scripts/coachctl-config.sh "$coachctl" "$url" "$home"/tls "$home"/bus/client.creds "$home"/token.key
ops_url=$(this_start | grep -o '"ops":"[^"]*"' | head -1 | cut -d'"' -f4)
ops_token=$("$coachctl" admin token --key-file "$home"/token.key \
  --user "$("$coachctl" new-user-id)" --role admin --ttl 12h)
echo "coach: ops dashboard (admin token for 12 h, kept in this tab only): $ops_url/#token=$ops_token"
echo "coach: metrics: curl -H \"Authorization: Bearer \$TOKEN\" $ops_url/metrics; health: $ops_url/readyz"
# The web client, signed in as coachctl's user (the token in its config dir).
if [[ -n "$grpc" ]]; then
  conf="${COACH_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/coach/coachctl.conf}"
  if [[ -f "$(dirname "$conf")/token" ]]; then
    echo "coach: web client (as coachctl's user; your browser must trust $home/tls/ca.pem): $http/#token=$(cat "$(dirname "$conf")/token")"
  else
    echo "coach: web client: $http/ (sign in with a token: coachctl admin token --user <your id>)"
  fi
fi
echo "coach: try it:  build/apps/coachctl/coachctl register --email you@example.com --timezone Europe/Berlin"
echo "coach:          build/apps/coachctl/coachctl add \"Water the plants\" --due \"tomorrow 9am\"; build/apps/coachctl/coachctl next"
wait "$coachd_pid"
