#!/usr/bin/env bash
# Runs a real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) on free
# 127.0.0.1 ports for integration tests. Jars come from Maven Central via kafka/pom.xml.
#
#   kafka.sh start DIR     fresh broker in DIR; prints host:port (also in DIR/bootstrap)
#   kafka.sh stop DIR      SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT s; idempotent
#   kafka.sh kill DIR      SIGKILL at once (crash tests); idempotent
#   kafka.sh restart DIR   stop if running, then start again on the same ports and data
#   kafka.sh fetch         only download the jars into the cache (e.g. a CI warm-up step)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
CCP_NAME="kafka.sh"
# shellcheck source=server_lib.sh
source "$HERE/server_lib.sh"

KAFKA_VERSION="3.9.1" # keep in step with kafka.version in kafka/pom.xml
CACHE_ROOT="${CCPULSE_CACHE:-${HOME:?HOME is not set}/.cache/ccpulse}"
LIBS="${CCPULSE_KAFKA_LIBS:-$CACHE_ROOT/kafka-$KAFKA_VERSION/libs}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-20}"
HEAP="${KAFKA_HEAP:-512m}"
BIND_ATTEMPTS=3

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# Downloads the broker jars once into $LIBS. A lock keeps parallel starts from racing, and
# the jars appear under $LIBS only when the copy is complete.
fetch_jars() {
  # .complete holds the pom's checksum: changing the pom (e.g. adding a jar) fetches again.
  local want
  want=$(sha256sum "$HERE/kafka/pom.xml" | cut -d' ' -f1)
  [[ -f "$LIBS/.complete" && "$(cat "$LIBS/.complete")" == "$want" ]] && return 0
  command -v mvn >/dev/null 2>&1 ||
    ccp_die "mvn not found on PATH; it fetches the Kafka jars (apt-get install -y maven), or point CCPULSE_KAFKA_LIBS at a dir of Kafka $KAFKA_VERSION jars"
  ccp_require java flock
  mkdir -p "$(dirname "$LIBS")"
  local lock_fd
  exec {lock_fd}>"$LIBS.lock"
  flock -w 900 "$lock_fd" || ccp_die "timed out waiting for another fetch (lock $LIBS.lock)"
  if [[ ! -f "$LIBS/.complete" || "$(cat "$LIBS/.complete")" != "$want" ]]; then
    local tmp="$LIBS.tmp.$$"
    rm -rf "$tmp"
    ccp_note "fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS"
    if ! mvn -q -B -f "$HERE/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
      tail -n 50 "$tmp.log" >&2
      rm -rf "$tmp" "$tmp.log"
      ccp_die "mvn could not fetch the Kafka jars (is Maven Central reachable? see output above)"
    fi
    [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] ||
      ccp_die "mvn succeeded but $tmp/kafka_2.13-$KAFKA_VERSION.jar is missing"
    echo "$want" >"$tmp/.complete"
    rm -rf "$LIBS" "$tmp.log"
    mv "$tmp" "$LIBS"
  fi
  exec {lock_fd}>&-
}

# Sets JAVA_ARGS for DIR: Kafka's own defaults (bin/kafka-run-class.sh) with a smaller heap
# for a 2-core test box, plus the per-dir log4j config and any KAFKA_JAVA_OPTS.
set_java_args() {
  local extra=()
  read -r -a extra <<<"${KAFKA_JAVA_OPTS:-}"
  JAVA_ARGS=(-Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true
    -Dlog4j.configuration="file:$1/log4j.properties" "${extra[@]}" -cp "$LIBS/*")
}

write_config() {
  local dir="$1" port="$2" cport="$3"
  cat >"$dir/server.properties" <<EOF
# Written by tests/support/kafka.sh: single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# One partition each for the internal topics: the first consumer group and the first
# transaction come up faster than with the default 50.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
# After a SIGKILL the restarted controller still holds the dead incarnation's session and
# refuses to register the new one until it expires (default 9 s); shorter restarts faster.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
num.network.threads=2
num.io.threads=4
EOF
  if [[ -n "${KAFKA_EXTRA_PROPERTIES:-}" ]]; then
    printf '# From KAFKA_EXTRA_PROPERTIES:\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$dir/server.properties"
  fi
  cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
  echo "$port $cport" >"$dir/ports"
}

format_storage() {
  local dir="$1" cluster_id
  set_java_args "$dir"
  cluster_id="$(java "${JAVA_ARGS[@]}" kafka.tools.StorageTool random-uuid 2>>"$dir/kafka.log")" ||
    { ccp_log_tail "$dir/kafka.log"; ccp_die "StorageTool random-uuid failed"; }
  java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$dir/server.properties" >>"$dir/kafka.log" 2>&1 ||
    { ccp_log_tail "$dir/kafka.log"; ccp_die "StorageTool format failed"; }
}

# Starts the JVM on the config in DIR and waits until it serves metadata. Returns 0 when
# ready, 3 when a port was taken (caller may retry), 1 on any other failure; the log tail
# is printed by the caller.
launch_and_wait() {
  local dir="$1" port="$2" log="$1/kafka.log" pid deadline log_start
  log_start=$(($(stat -c %s "$log" 2>/dev/null || echo 0) + 1))
  echo "==== kafka.sh: launching broker on 127.0.0.1:$port at $(date -Is) ====" >>"$log"
  # The subshell execs java, so $! is the broker's pid. No fd of ours stays open in it, so
  # `$(kafka.sh start DIR)` returns as soon as the broker is ready.
  set_java_args "$dir"
  (cd "$dir" && exec java "${JAVA_ARGS[@]}" kafka.Kafka "$dir/server.properties") \
    >>"$log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"
  deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! ccp_alive "$pid"; then
      rm -f "$dir/kafka.pid"
      if tail -c "+$log_start" "$log" | grep -qiE "address already in use|BindException"; then
        return 3
      fi
      ccp_note "broker (pid $pid) exited during startup"
      return 1
    fi
    if kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; then
      echo "127.0.0.1:$port" >"$dir/bootstrap"
      return 0
    fi
    sleep 0.5
  done
  ccp_note "broker did not serve metadata on 127.0.0.1:$port within ${START_TIMEOUT}s"
  ccp_stop_pidfile "$dir/kafka.pid" "$dir" 0
  return 1
}

cmd_start() {
  local dir pid attempt rc port cport
  dir="$(ccp_abs_dir "$1")"
  if pid="$(ccp_running_pid "$dir/kafka.pid" "$dir")"; then
    ccp_die "a broker is already running in $dir (pid $pid); stop it first"
  fi
  ccp_require java kcat
  fetch_jars
  for ((attempt = 1; attempt <= BIND_ATTEMPTS; attempt++)); do
    rm -rf "$dir/data" "$dir/bootstrap" "$dir/kafka.log"
    mkdir -p "$dir/data"
    read -r port cport < <(ccp_free_ports 2) || true
    [[ -n "${cport:-}" ]] || ccp_die "could not find two free ports on 127.0.0.1"
    write_config "$dir" "$port" "$cport"
    format_storage "$dir"
    rc=0
    launch_and_wait "$dir" "$port" || rc=$?
    if ((rc == 0)); then
      cat "$dir/bootstrap"
      return 0
    fi
    ((rc == 3)) || break
    ccp_note "port $port or $cport was taken before the broker bound it; retrying on new ports"
  done
  ccp_log_tail "$dir/kafka.log"
  ccp_die "could not start Kafka in $dir"
}

cmd_restart() {
  local dir port cport rc deadline
  dir="$(ccp_abs_dir "$1")"
  [[ -f "$dir/server.properties" && -f "$dir/ports" && -d "$dir/data" ]] ||
    ccp_die "$dir has no broker to restart (run 'kafka.sh start $dir' first)"
  ccp_require java kcat
  fetch_jars
  ccp_stop_pidfile "$dir/kafka.pid" "$dir" "$STOP_TIMEOUT"
  read -r port cport <"$dir/ports"
  # Same ports on purpose: clients keep their bootstrap address. If something grabbed a
  # port meanwhile, keep trying until the start timeout rather than moving.
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    rc=0
    launch_and_wait "$dir" "$port" || rc=$?
    ((rc == 0)) && { cat "$dir/bootstrap"; return 0; }
    ((rc == 3 && SECONDS < deadline)) || break
    ccp_note "port $port or $cport is still in use; retrying"
    sleep 1
  done
  ccp_log_tail "$dir/kafka.log"
  ccp_die "could not restart Kafka in $dir on ports $port/$cport"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    start | restart | stop | kill) [[ $# -eq 2 ]] || usage ;;
    fetch) [[ $# -eq 1 ]] || usage ;;
    *) usage ;;
  esac
  case "$cmd" in
    start) cmd_start "$2" ;;
    restart) cmd_restart "$2" ;;
    stop | kill)
      [[ -d "$2" ]] || return 0
      local dir timeout="$STOP_TIMEOUT"
      dir="$(ccp_abs_dir "$2")"
      [[ "$cmd" == kill ]] && timeout=0
      ccp_stop_pidfile "$dir/kafka.pid" "$dir" "$timeout"
      ;;
    fetch) fetch_jars ;;
  esac
}

main "$@"
