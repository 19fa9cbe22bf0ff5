#!/usr/bin/env bash
# Installs what ccpulse needs on Debian bookworm, only the packages that are missing.
#   deploy/install-deps.sh          build dependencies (enough for `ccpulse demo`)
#   deploy/install-deps.sh --test   also what the test suite starts: Java + Maven (Kafka),
#                                   Prometheus, Alertmanager, Chromium, Node.js, kcat
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail

build=(build-essential cmake ninja-build pkg-config git tzdata ca-certificates
  librdkafka-dev libabsl-dev prometheus-cpp-dev libsimdjson-dev libbenchmark-dev
  libyaml-cpp-dev libcli11-dev libfmt-dev libcivetweb-dev libcurl4-openssl-dev
  libgtest-dev libgmock-dev zlib1g-dev)
test=(python3 python3-jsonschema curl kcat openjdk-17-jre-headless maven
  prometheus prometheus-alertmanager chromium valgrind)
# Node.js and npm (the browser test's driver): any install will do, Debian's or another.
if [[ "${1:-}" == "--test" ]] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  test+=(nodejs npm)
fi

want=("${build[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present" >&2
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
