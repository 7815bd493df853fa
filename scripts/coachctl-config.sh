#!/usr/bin/env bash
# Writes coachctl's config file, so that coachctl works from any directory
# (docs/coachctl.md, "Settings"): $XDG_CONFIG_HOME/coach/coachctl.conf
# (default ~/.config/coach/coachctl.conf, or $COACH_CONFIG) with the NATS URL
# and the absolute paths of the TLS dir, the client's NATS identity and
# coachd's token key, and `token-file` naming a user token for a new user id
# (next to the config file, mode 0600, 30 days). An existing config file is
# left as it is: it may hold the user's own settings. scripts/run.sh calls
# this on every start.
#
#   scripts/coachctl-config.sh COACHCTL NATS_URL TLS_DIR NATS_CREDS KEY_FILE [plaintext]
#
# TLS_DIR may be empty (with plaintext). Prints what it did.
set -euo pipefail
[[ $# -ge 5 ]] || { echo "usage: $0 COACHCTL NATS_URL TLS_DIR NATS_CREDS KEY_FILE [plaintext]" >&2; exit 2; }
coachctl=$1 url=$2 tls=$3 creds=$4 key=$5 plain=${6:-}
if [[ -n "${COACH_CONFIG:-}" ]]; then
  conf=$COACH_CONFIG
else
  conf="${XDG_CONFIG_HOME:-$HOME/.config}/coach/coachctl.conf"
fi
if [[ -e "$conf" ]]; then
  echo "coach: coachctl's config: $conf (kept as it is)"
  exit 0
fi
dir=$(dirname "$conf")
mkdir -p "$dir"
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
token="$dir/token"
(umask 077 && "$coachctl" admin token --key-file "$key" --user "$("$coachctl" new-user-id)" \
  --ttl 30d >"$token.new" && mv "$token.new" "$token")
{
  echo "# coachctl's settings, written by scripts/coachctl-config.sh; flags and"
  echo "# COACH_* variables win over these lines."
  echo "nats-url = $url"
  if [[ -n "$tls" ]]; then echo "tls-dir = $(absolute "$tls")"; fi
  echo "nats-creds = $(absolute "$creds")"
  echo "key-file = $(absolute "$key")"
  echo "# a token for a user of your own, 30 days; renew it with"
  echo "#   coachctl admin token --user <your id> > $token"
  echo "token-file = $token"
  if [[ "$plain" == plaintext ]]; then echo "plaintext = 1"; fi
} >"$conf.new"
mv "$conf.new" "$conf"
echo "coach: wrote coachctl's config $conf, with a token for a new user ($token)"
