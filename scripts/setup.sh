#!/usr/bin/env bash
# Installs the Debian packages coach needs (only those missing), then
# configures and builds coach in ./build. Safe to run again and again.
#
#   scripts/setup.sh            # packages + build
#   COACH_WERROR=ON scripts/setup.sh   # warnings as errors (CI, tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# Every package coach builds, runs or tests with; see README.md for why each.
packages=(
  g++ make cmake pkg-config ccache git clang-format clang libclang-rt-14-dev openssl
  libprotobuf-dev protobuf-compiler
  librocksdb-dev libsodium-dev
  libcaf-dev
  libnats-dev nats-server
  libfmt-dev libcli11-dev doctest-dev libhowardhinnant-date-dev tzdata
  libcurl4-openssl-dev libcpp-httplib-dev
  libgrpc++-dev protobuf-compiler-grpc python3-grpcio python3-protobuf curl libical-dev
  chromium chromium-driver fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
# COACH_WERROR unset keeps what the build was configured with, so that
# run.sh after test.sh (or the other way round) rebuilds nothing.
werror=()
if [[ -n "${COACH_WERROR:-}" ]]; then werror=(-DCOACH_WERROR="$COACH_WERROR"); fi
cmake -S . -B build "${werror[@]}" >build.configure.log 2>&1 ||
  { cat build.configure.log; exit 1; }
cmake --build build -j"$jobs"
