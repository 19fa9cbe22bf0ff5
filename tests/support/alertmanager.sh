#!/usr/bin/env bash
# Runs a real Alertmanager (Debian package `prometheus-alertmanager`) on a free 127.0.0.1
# port for integration tests, with clustering disabled.
#
#   alertmanager.sh start DIR CONFIG_FILE   prints the base URL (also in DIR/url)
#   alertmanager.sh stop DIR                SIGTERM, then SIGKILL after AM_STOP_TIMEOUT s
#
# Env: AM_START_TIMEOUT (30), AM_STOP_TIMEOUT (20), ALERTMANAGER_BIN (Debian's
# prometheus-alertmanager, else alertmanager).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
CCP_NAME="alertmanager.sh"
# shellcheck source=server_lib.sh
source "$HERE/server_lib.sh"

START_TIMEOUT="${AM_START_TIMEOUT:-30}"
STOP_TIMEOUT="${AM_STOP_TIMEOUT:-20}"
BIND_ATTEMPTS=3

usage() {
  sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

find_binary() {
  local bin
  for bin in ${ALERTMANAGER_BIN:-prometheus-alertmanager alertmanager}; do
    command -v "$bin" >/dev/null 2>&1 && { echo "$bin"; return 0; }
  done
  ccp_die "alertmanager not found; apt-get install -y prometheus-alertmanager (or set ALERTMANAGER_BIN)"
}

cmd_start() {
  local dir="$1" config="$2" bin pid attempt rc port
  [[ -f "$config" ]] || ccp_die "CONFIG_FILE '$config' does not exist"
  config="$(cd "$(dirname "$config")" && pwd -P)/$(basename "$config")"
  dir="$(ccp_abs_dir "$dir")"
  if pid="$(ccp_running_pid "$dir/alertmanager.pid" "$dir")"; then
    ccp_die "alertmanager is already running in $dir (pid $pid); stop it first"
  fi
  bin="$(find_binary)"
  ccp_require curl
  for ((attempt = 1; attempt <= BIND_ATTEMPTS; attempt++)); do
    rm -rf "$dir/data" "$dir/url" "$dir/alertmanager.log"
    mkdir -p "$dir/data"
    port="$(ccp_free_ports 1)"
    [[ -n "$port" ]] || ccp_die "could not find a free port on 127.0.0.1"
    rc=0
    # An empty --cluster.listen-address turns gossip off, so no second port is needed.
    ccp_launch_http "$dir" alertmanager "$port" "$START_TIMEOUT" \
      "$bin" --config.file="$config" \
      --storage.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" \
      --cluster.listen-address= || rc=$?
    if ((rc == 0)); then
      echo "http://127.0.0.1:$port" | tee "$dir/url"
      return 0
    fi
    ((rc == 3)) || break
    ccp_note "port $port was taken before alertmanager bound it; retrying on a new port"
  done
  ccp_log_tail "$dir/alertmanager.log"
  ccp_die "could not start alertmanager in $dir"
}

main() {
  case "${1:-}" in
    start)
      [[ $# -eq 3 ]] || usage
      cmd_start "$2" "$3"
      ;;
    stop)
      [[ $# -eq 2 ]] || usage
      [[ -d "$2" ]] || return 0
      local dir
      dir="$(ccp_abs_dir "$2")"
      ccp_stop_pidfile "$dir/alertmanager.pid" "$dir" "$STOP_TIMEOUT"
      ;;
    *) usage ;;
  esac
}

main "$@"
