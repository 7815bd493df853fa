#!/usr/bin/env bash
# Runs coach as a cluster on loopback (issue 18): three nats-servers
# clustered with JetStream (R3, TLS with client certificates for clients,
# routes on loopback) and three coachd with a replicated log. By default the
# users are split into 64 partitions (docs/architecture.md, "Partitions"):
# each coachd holds a fair share of the partitions' leases, serves their
# users and forwards requests for the others to their owners; when one dies
# its partitions move to the other two within the lease time plus catch-up.
# With COACH_PARTITIONS=0 the first coachd to take the one lease serves
# every user and the other two wait as standbys ("A replicated log and a
# standby"). Everything lives under ./.coach-cluster. Ctrl-C stops the
# coachd (each hands its partitions off), then the nats-servers. Extra
# arguments go to every coachd.
#
#   COACH_CLUSTER_HOME=.coach-cluster (default)  keys, data, logs
#   COACH_CLUSTER_PORT=4322 (default)  client ports 4322-4324, routes 6322-6324
#   COACH_PARTITIONS=64 (default)      partitions of the users; 0: one owner, two standbys
#   COACH_SKIP_SETUP=1                 run what is built, without scripts/setup.sh
#   COACH_BUILD_DIR=build (default)    where the programs were built
#
# Try a failover: kill -9 one coachd (the pids are printed below); within a
# few seconds the others log "caught up" for its partitions, and coachctl
# (configured for this cluster below) goes on working. The partitions and
# their owners: coachctl ops cluster, or the dashboard's Cluster section.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ "${COACH_SKIP_SETUP:-}" == 1 ]] || scripts/setup.sh
home="${COACH_CLUSTER_HOME:-.coach-cluster}"
base="${COACH_CLUSTER_PORT:-4322}"
bin="${COACH_BUILD_DIR:-build}/apps"
partitions="${COACH_PARTITIONS:-64}"
coachctl="$bin"/coachctl/coachctl
mkdir -p "$home" "$home/nodes"
scripts/make-certs.sh "$home"/tls

# One bus authority for the cluster (every server trusts the same operator),
# one server.conf per server with its own JetStream folder and the routes.
urls=""
for i in 0 1 2; do
  dir="$home/n$i"
  mkdir -p "$dir/jetstream"
  [[ $i == 0 || -d "$dir/bus" ]] || cp -a "$home/n0/bus" "$dir/bus"
  "$coachctl" admin bus-init --dir "$dir/bus" --store-dir "$dir/jetstream" >/dev/null
  {
    echo "server_name: n$i"
    echo "cluster {"
    echo "  name: coach"
    echo "  listen: 127.0.0.1:$((base + 2000 + i))"
    echo "  routes: ["
    for j in 0 1 2; do [[ $j == "$i" ]] || echo "    nats-route://127.0.0.1:$((base + 2000 + j))"; done
    echo "  ]"
    echo "}"
  } >>"$dir/bus/server.conf"
  urls+="${urls:+,}tls://127.0.0.1:$((base + i))"
done
bus="$home/n0/bus"
for role in coachd client; do
  [[ -f "$bus/$role.creds" ]] || "$coachctl" admin bus-creds --dir "$bus" --role "$role" \
    --name "$role" --out "$bus/$role.creds"
done

pids=()
coachd_pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${coachd_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${coachd_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "coach cluster: stopped"
}
trap stop INT TERM EXIT

for i in 0 1 2; do
  dir="$home/n$i"
  setsid nats-server -c "$dir/bus/server.conf" -a 127.0.0.1 -p "$((base + i))" \
    --tlsverify --tlscert "$home"/tls/server.pem --tlskey "$home"/tls/server.key \
    --tlscacert "$home"/tls/ca.pem >"$dir/nats-server.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 300); do  # JetStream needs a meta leader before coachd makes its streams
  cat "$home"/n?/nats-server.log | grep -q "new metadata leader" && break
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { cat "$home"/n?/nats-server.log; exit 1; }; done
  sleep 0.1
done
echo "coach cluster: nats-servers on $urls (logs: $home/n*/nats-server.log)"

# Three coachd; their data dirs share a parent, and so the master key and
# the token key every node of the cluster needs.
for i in 0 1 2; do
  "$bin"/coachd/coachd --data-dir "$home/nodes/coachd-$i" --nats-url "$urls" \
    --tls-dir "$home"/tls --nats-creds "$bus"/coachd.creds --replicate-log 3 \
    --partitions "$partitions" --ops-port 0 "$@" >>"$home/coachd-$i.log" 2>&1 &
  coachd_pids+=($!)
  # The first one makes the keys; the others start once it serves.
  if [[ $i == 0 ]]; then
    for _ in $(seq 300); do
      grep -q '"msg":"ready"' "$home/coachd-0.log" 2>/dev/null && break
      kill -0 "${coachd_pids[0]}" 2>/dev/null || { tail "$home/coachd-0.log"; exit 1; }
      sleep 0.1
    done
  fi
done
if [[ $partitions == 0 ]]; then
  echo "coach cluster: coachd-0 (pid ${coachd_pids[0]}) serving; coachd-1 and coachd-2 (pids ${coachd_pids[1]} ${coachd_pids[2]}) standing by (logs: $home/coachd-*.log)"
else
  echo "coach cluster: coachd-0, coachd-1, coachd-2 (pids ${coachd_pids[*]}) share $partitions partitions (logs: $home/coachd-*.log)"
fi
[[ -f "$home"/user.token ]] || (umask 077 && "$coachctl" admin token --key-file "$home"/nodes/token.key \
  --user "$("$coachctl" new-user-id)" --ttl 720h >"$home"/user.token)
ctl="$coachctl --nats-url $urls --tls-dir $home/tls --nats-creds $bus/client.creds --token-file $home/user.token"
echo "coach cluster: try it:  $ctl register --email you@example.com --timezone Europe/Berlin"
echo "coach cluster:          $ctl add \"Water the plants\" --due tomorrow; $ctl next"
wait "${coachd_pids[@]}"
