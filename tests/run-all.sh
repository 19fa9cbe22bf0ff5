#!/usr/bin/env bash
# The one command that sets everything up and runs every test tier on a fresh Debian bookworm
# machine: installs missing packages, builds with -Werror (preset "ci"), and runs ctest, whose
# integration tests start real Kafka, Prometheus, Alertmanager and Chromium on 127.0.0.1 and
# stop them again. Test artifacts (screenshots, logs) land in build/ci/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
deploy/install-deps.sh --test
cmake --preset ci
cmake --build --preset ci
ctest --preset ci "$@"
echo "run-all: passed in $(( $(date +%s) - start )) s" >&2
