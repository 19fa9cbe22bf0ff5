# shellcheck shell=bash
# Shared by run.sh and check.sh (sourced, not run): builds, the broker, engine start/stop, cleanup.
# Expects: set -euo pipefail; $root (repository root); $work (the run's temp dir).
# shellcheck disable=SC2154 # root and work are set by the caller

BUILD_DIR=${BUILD_DIR:-$root/build/peers}
CCPULSE=${CCPULSE:-$BUILD_DIR/pipeline/ccpulse}
BARE=${BARE:-$BUILD_DIR/benchmarks/peers/peer_bare_consumer}
PROBE=${PROBE:-$BUILD_DIR/benchmarks/peers/peer_probe}
# SKIP_BUILD=1: use the binaries and the jar as they are (e.g. while the tree does not compile).
SKIP_BUILD=${SKIP_BUILD:-}
KS_DIR=$root/benchmarks/peers/kafka-streams
KS_JAR=$KS_DIR/target/ccpulse-kstreams.jar
# Extra JVM flags for the Kafka Streams peer (none: JVM defaults, as the "default" run promises).
KS_JAVA_OPTS=${KS_JAVA_OPTS:-}

pids=()  # background processes this script started, stopped by cleanup

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

build_all() {
  if [[ -n $SKIP_BUILD ]]; then
    local f
    for f in "$CCPULSE" "$BARE" "$PROBE" "$KS_JAR"; do
      [[ -x $f || -f $f ]] || { log "SKIP_BUILD is set but $f is missing"; return 1; }
    done
    log "SKIP_BUILD: using $CCPULSE, $BARE, $PROBE and $KS_JAR as they are"
    return 0
  fi
  log "building ccpulse and the peers' instruments in $BUILD_DIR (release preset)"
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    cmake --preset release -B "$BUILD_DIR" -DCCPULSE_BUILD_BENCHMARKS=ON >"$work/cmake.log" 2>&1 ||
      { tail -30 "$work/cmake.log" >&2; return 1; }
  fi
  cmake --build "$BUILD_DIR" --target ccpulse peer_bare_consumer peer_probe >"$work/build.log" 2>&1 ||
    { tail -30 "$work/build.log" >&2; return 1; }
  log "building the Kafka Streams peer (Maven)"
  mvn -q -B -f "$KS_DIR/pom.xml" package >"$work/mvn.log" 2>&1 || { tail -30 "$work/mvn.log" >&2; return 1; }
}

# Stops one background process: SIGTERM, then SIGKILL after $2 seconds (default 30).
stop_pid() {
  local pid=$1 grace=${2:-30}
  kill -TERM "$pid" 2>/dev/null || return 0
  local i
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid" 10; done
  "$root/tests/support/kafka.sh" stop "$work/kafka" >/dev/null 2>&1 || true
  if [[ -n ${KEEP_WORK:-} ]]; then log "kept $work"; else rm -rf "$work"; fi
  exit "$status"
}

start_broker() {
  log "starting Kafka (tests/support/kafka.sh)"
  bootstrap=$(KAFKA_HEAP=${KAFKA_HEAP:-1g} "$root/tests/support/kafka.sh" start "$work/kafka")
  log "broker at $bootstrap"
}

# Waits until topic $1 exists with partitions.
wait_topic() {
  local i
  for ((i = 0; i < 300; i++)); do
    if kcat -b "$bootstrap" -L -t "$1" 2>/dev/null | grep -q "partition 0,"; then return 0; fi
    sleep 0.1
  done
  log "topic $1 did not appear"
  return 1
}

# The name `ccpulse simulate` gives its first team (operators/simulator.cc).
first_team() {
  if (($1 <= 12)); then echo billing; elif (($1 <= 108)); then echo billing-1; else echo team-00000; fi
}

# Starts `ccpulse run` on topic $1 as group $2 (log $3); sets engine_pid and engine_url.
start_ccpulse() {
  local topic=$1 group=$2 log_file=$3
  cat >"$work/$group.yaml" <<YAML
kafka:
  brokers: $bootstrap
  group: $group
  topics: [$topic]
  dead_letter_topic: $group-dead-letters
http:
  address: 127.0.0.1:0
YAML
  "$CCPULSE" run --config "$work/$group.yaml" 2>"$log_file" &
  engine_pid=$!
  pids+=("$engine_pid")
  local i
  engine_url=
  for ((i = 0; i < 300; i++)); do
    engine_url=$(grep -o 'serving http://[0-9.:]*' "$log_file" 2>/dev/null | head -1 | cut -d' ' -f2 || true)
    [[ -n $engine_url ]] && return 0
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "ccpulse run did not start:"; tail -20 "$log_file" >&2
  return 1
}

# Starts the Kafka Streams peer on topic $1 as application $2 with properties file $3 (or
# empty for the defaults), log $4; sets engine_pid and engine_url.
start_kstreams() {
  local topic=$1 app=$2 properties=$3 log_file=$4
  local args=(--bootstrap "$bootstrap" --topic "$topic" --application-id "$app"
              --state-dir "$work/state-$app" --url-file "$work/$app.url")
  [[ -n $properties ]] && args+=(--properties "$properties")
  # shellcheck disable=SC2086
  java $KS_JAVA_OPTS -jar "$KS_JAR" "${args[@]}" >/dev/null 2>"$log_file" &
  engine_pid=$!
  pids+=("$engine_pid")
  local i
  for ((i = 0; i < 600; i++)); do
    if [[ -s $work/$app.url ]]; then engine_url=$(cat "$work/$app.url"); return 0; fi
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.1
  done
  log "the Kafka Streams peer did not start:"; tail -20 "$log_file" >&2
  return 1
}

# Stops the engine started last and forgets it.
stop_engine() {
  stop_pid "$engine_pid" 60
  local kept=() pid
  for pid in "${pids[@]}"; do [[ $pid == "$engine_pid" ]] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

# Records in a topic (0 if it does not exist).
topic_records() {
  kcat -b "$bootstrap" -C -t "$1" -e -q -f 'x\n' 2>/dev/null | wc -l
}
