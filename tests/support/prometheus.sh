#!/usr/bin/env bash
# Runs a real Prometheus (Debian package `prometheus`) on a free 127.0.0.1 port for
# integration tests, scraping one target every second.
#
#   prometheus.sh start DIR SCRAPE_TARGET   SCRAPE_TARGET is host:port, scraped at /metrics;
#                                           prints the base URL (also in DIR/url)
#   prometheus.sh stop DIR                  SIGTERM, then SIGKILL after PROM_STOP_TIMEOUT s
#
# Env: PROM_RULE_FILES (space-separated rule files), PROM_ALERTMANAGERS (space-separated
# host:port to send alerts to), PROM_START_TIMEOUT (30), PROM_STOP_TIMEOUT (20),
# PROMETHEUS_BIN (prometheus).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
CCP_NAME="prometheus.sh"
# shellcheck source=server_lib.sh
source "$HERE/server_lib.sh"

PROMETHEUS_BIN="${PROMETHEUS_BIN:-prometheus}"
START_TIMEOUT="${PROM_START_TIMEOUT:-30}"
STOP_TIMEOUT="${PROM_STOP_TIMEOUT:-20}"
BIND_ATTEMPTS=3

usage() {
  sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

is_host_port() {
  [[ "$1" =~ ^[A-Za-z0-9._-]+:[0-9]+$ || "$1" =~ ^\[[0-9A-Fa-f:]+\]:[0-9]+$ ]]
}

write_config() {
  local dir="$1" target="$2" file am
  {
    echo "# Written by tests/support/prometheus.sh."
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  scrape_timeout: 1s"
    echo "  evaluation_interval: 1s"
    echo "rule_files:"
    for file in ${PROM_RULE_FILES:-}; do
      [[ -f "$file" ]] || ccp_die "PROM_RULE_FILES: no such file: $file"
      echo "  - '$(cd "$(dirname "$file")" && pwd -P)/$(basename "$file")'"
    done
    if [[ -n "${PROM_ALERTMANAGERS:-}" ]]; then
      echo "alerting:"
      echo "  alertmanagers:"
      echo "    - static_configs:"
      echo "        - targets:"
      for am in $PROM_ALERTMANAGERS; do
        am="${am#http://}"
        is_host_port "$am" || ccp_die "PROM_ALERTMANAGERS: '$am' is not host:port"
        echo "            - '$am'"
      done
    fi
    echo "scrape_configs:"
    echo "  - job_name: ccpulse"
    echo "    metrics_path: /metrics"
    echo "    static_configs:"
    echo "      - targets: ['$target']"
  } >"$dir/prometheus.yml.tmp"
  mv "$dir/prometheus.yml.tmp" "$dir/prometheus.yml"
}

cmd_start() {
  local dir="$1" target="${2#http://}" pid attempt rc port
  target="${target%/metrics}"
  is_host_port "$target" || ccp_die "SCRAPE_TARGET '$2' is not host:port"
  dir="$(ccp_abs_dir "$dir")"
  if pid="$(ccp_running_pid "$dir/prometheus.pid" "$dir")"; then
    ccp_die "prometheus is already running in $dir (pid $pid); stop it first"
  fi
  command -v "$PROMETHEUS_BIN" >/dev/null 2>&1 ||
    ccp_die "'$PROMETHEUS_BIN' not found; apt-get install -y prometheus (or set PROMETHEUS_BIN)"
  ccp_require curl
  write_config "$dir" "$target"
  for ((attempt = 1; attempt <= BIND_ATTEMPTS; attempt++)); do
    rm -rf "$dir/data" "$dir/url" "$dir/prometheus.log"
    mkdir -p "$dir/data"
    port="$(ccp_free_ports 1)"
    [[ -n "$port" ]] || ccp_die "could not find a free port on 127.0.0.1"
    rc=0
    ccp_launch_http "$dir" prometheus "$port" "$START_TIMEOUT" \
      "$PROMETHEUS_BIN" --config.file="$dir/prometheus.yml" \
      --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" \
      --web.enable-lifecycle || rc=$?
    if ((rc == 0)); then
      echo "http://127.0.0.1:$port" | tee "$dir/url"
      return 0
    fi
    ((rc == 3)) || break
    ccp_note "port $port was taken before prometheus bound it; retrying on a new port"
  done
  ccp_log_tail "$dir/prometheus.log"
  ccp_die "could not start prometheus in $dir"
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
      ccp_stop_pidfile "$dir/prometheus.pid" "$dir" "$STOP_TIMEOUT"
      ;;
    *) usage ;;
  esac
}

main "$@"
