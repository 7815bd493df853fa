#!/usr/bin/env bash
# Installs what is missing, builds, and runs coach: a nats-server on loopback
# (JetStream on and encrypted at rest, TLS with client certificates from a
# local CA, and bus authorization: every program has its own NATS identity
# with only the rights its role needs, all made on the first run), coachd,
# and one coach-deliver per channel that writes outbound notifications to
# .coach/outbox/<channel>.jsonl; all keep their data under ./.coach. Ctrl-C
# stops them cleanly. Extra arguments go to coachd (see
# coachd --help), e.g. --llm-url http://127.0.0.1:8080 for a local llama.cpp
# server (without one, nudges come from templates).
#
#   COACH_NATS_PORT=4222 (default)   the loopback port nats-server listens on
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

port="${COACH_NATS_PORT:-4222}"
url="tls://127.0.0.1:${port}"
coachctl=build/apps/coachctl/coachctl
if [[ -d .coach/nats && ! -d .coach/bus ]]; then
  # A store from before bus authorization: plaintext, in another account.
  mv .coach/nats ".coach/nats.plaintext-$(date +%s)"
  echo "coach: the old JetStream store (plaintext) was moved to .coach/nats.plaintext-*; delete it"
fi
mkdir -p .coach/data .coach/nats
scripts/make-certs.sh .coach/tls
# The bus authority (wire/bus_identity.h): nats-server's config with the
# JetStream key, and one identity per program, each file mode 0600.
"$coachctl" admin bus-init --dir .coach/bus --store-dir .coach/nats >/dev/null
for role in coachd client; do
  [[ -f .coach/bus/$role.creds ]] || "$coachctl" admin bus-creds --dir .coach/bus --role "$role" \
    --name "$role" --out ".coach/bus/$role.creds"
done

nats-server -c .coach/bus/server.conf -a 127.0.0.1 -p "$port" \
  --tlsverify --tlscert .coach/tls/server.pem --tlskey .coach/tls/server.key \
  --tlscacert .coach/tls/ca.pem >.coach/nats-server.log 2>&1 &
nats_pid=$!
coachd_pid=""
deliver_pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${deliver_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [[ -n "$coachd_pid" ]] && kill -TERM "$coachd_pid" 2>/dev/null && wait "$coachd_pid" 2>/dev/null || true
  kill -TERM "$nats_pid" 2>/dev/null && wait "$nats_pid" 2>/dev/null || true
  echo "coach: stopped"
}
trap stop INT TERM EXIT

for _ in $(seq 100); do
  grep -q "Server is ready" .coach/nats-server.log 2>/dev/null && break
  kill -0 "$nats_pid" 2>/dev/null || { cat .coach/nats-server.log; exit 1; }
  sleep 0.1
done
echo "coach: nats-server on $url, TLS with client certificates (.coach/tls), identities in .coach/bus (log: .coach/nats-server.log)"

build/apps/coachd/coachd --data-dir .coach/data --nats-url "$url" \
  --nats-creds .coach/bus/coachd.creds "$@" > >(tee .coach/coachd.log) 2>&1 &
coachd_pid=$!
for _ in $(seq 200); do  # coach-deliver binds to the consumers coachd makes
  [[ -f .coach/token.key ]] && grep -q "\"msg\":\"ready\"" .coach/coachd.log 2>/dev/null && break
  sleep 0.1
done
mkdir -p .coach/outbox
chmod 700 .coach/outbox
# The gateways' token and NATS identities live 2 h in files only this user
# reads (never on a command line); they are renewed every hour. coach-deliver
# rereads the token, and nats.c rereads the identity when it reconnects.
issue_deliver_token() {
  (umask 077 && "$coachctl" admin token --key-file .coach/token.key \
    --user "$("$coachctl" new-user-id)" --role delivery --ttl 2h \
    >.coach/deliver.token.new && mv .coach/deliver.token.new .coach/deliver.token)
  for channel in push email sms; do
    "$coachctl" admin bus-creds --dir .coach/bus --role deliver --channel "$channel" --ttl 2h \
      --name "deliver-$channel" --out ".coach/bus/deliver-$channel.creds"
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
  build/apps/coach-deliver/coach-deliver --channel "$channel" --nats-url "$url" \
    --tls-dir .coach/tls --nats-creds ".coach/bus/deliver-$channel.creds" \
    --token-file .coach/deliver.token --out ".coach/outbox/$channel.jsonl" \
    2>>.coach/deliver.log &
  deliver_pids+=($!)
done
echo "coach: notifications go to .coach/outbox/{push,email,sms}.jsonl (coach-deliver)"
ops_url=$(grep -o '"ops":"[^"]*"' .coach/coachd.log | head -1 | cut -d'"' -f4)
ops_token=$("$coachctl" admin token --key-file .coach/token.key \
  --user "$("$coachctl" new-user-id)" --role admin --ttl 12h)
echo "coach: ops dashboard (admin token for 12 h, kept in this tab only): $ops_url/#token=$ops_token"
echo "coach: metrics: curl -H \"Authorization: Bearer \$TOKEN\" $ops_url/metrics; health: $ops_url/readyz"
echo "coach: try it:  export COACH_TOKEN=\$(build/apps/coachctl/coachctl admin token --user \$(build/apps/coachctl/coachctl new-user-id))"
echo "coach:          build/apps/coachctl/coachctl --nats-url $url register --email you@example.com"
wait "$coachd_pid"
