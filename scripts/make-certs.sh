#!/usr/bin/env bash
# Makes a local certificate authority and the certificates coach uses on
# loopback, in DIR (default .coach/tls), unless they exist already:
#   ca.pem                      the CA both sides trust
#   server.pem, server.key      nats-server (127.0.0.1, localhost)
#   client.pem, client.key      coachd and coachctl (client authentication)
# Keys are EC P-256 and mode 0600.
set -euo pipefail
dir="${1:-.coach/tls}"
mkdir -p "$dir"
cd "$dir"
[[ -f ca.pem && -f server.pem && -f client.pem ]] && exit 0
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=coach local CA" -out ca.pem 2>/dev/null
make_cert() {  # name, subject, extensions
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
make_cert server "/CN=127.0.0.1" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
make_cert client "/CN=coach client" "extendedKeyUsage=clientAuth"
chmod 644 ca.pem server.pem client.pem
