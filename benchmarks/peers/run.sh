#!/usr/bin/env bash
# Side-by-side benchmark: a bare librdkafka consumer (the ceiling), `ccpulse run`, and the Kafka
# Streams peer with default and tuned settings, on one real broker and the same pre-produced
# events. What is measured and how: README.md beside this file.
#
#   benchmarks/peers/run.sh            # defaults below; every knob is an environment variable
#   EVENTS=10000000 REPEAT=3 benchmarks/peers/run.sh
#   EVENTS=10000000 REPEAT=1 LAT_ENGINES=" " HALF_RUNS=0 benchmarks/peers/run.sh   # throughput only
#   ENGINES=" " LAT_ENGINES=" " EVENTS=1000 HALF_RATE=25000 benchmarks/peers/run.sh  # ccpulse latency at 25k/s
#
# A phase is skipped with ENGINES=" " / LAT_ENGINES=" " (a blank: empty means the default) or
# HALF_RUNS=0. SKIP_BUILD=1 CCPULSE=... BARE=... PROBE=... uses existing binaries (lib.sh).
#
# Prints progress on stderr and, at the end, the table (Markdown) and every raw result (JSON
# Lines) on stdout. RESULTS_FILE=path keeps a copy of the raw results. Starts and always stops
# its own broker (free ports, tests/support/kafka.sh) and removes its temp dir (KEEP_WORK=1
# keeps it).
set -euo pipefail

EVENTS=${EVENTS:-2000000}         # events pre-produced for the throughput runs
TEAMS=${TEAMS:-10000}
PARTITIONS=${PARTITIONS:-4}
SEED=${SEED:-42}
REPEAT=${REPEAT:-3}               # runs per configuration (medians are reported)
ENGINES=${ENGINES:-"bare ccpulse ks-default ks-tuned"}
# Latency at a fixed input rate: the simulator paced at LAT_SPEED x real time with arrival
# rates scaled by LAT_LOAD (10,000 teams, 0.25, 16x: about 4,000 events/s at the 09:00 peak).
LAT_ENGINES=${LAT_ENGINES:-"ccpulse ks-default ks-tuned"}
LAT_SPEED=${LAT_SPEED:-16}
LAT_LOAD=${LAT_LOAD:-0.25}
LAT_SECONDS=${LAT_SECONDS:-60}    # probe duration per run
LAT_SKIP=${LAT_SKIP:-15}          # of which the first seconds are warm-up (not counted)
# ccpulse's latency at about half the events/s it sustained in the throughput runs (issue 3
# item 8): the simulator paced at HALF_LOAD and the speed that gives that rate, using
# LAT_BASE_RATE events/s per unit of load x speed (10,000 teams from 09:00; scales with TEAMS).
# HALF_RATE=N fixes the target instead; HALF_RUNS=0 skips this phase.
HALF_RUNS=${HALF_RUNS:-$REPEAT}
HALF_RATE=${HALF_RATE:-}
HALF_LOAD=${HALF_LOAD:-1}
LAT_BASE_RATE=${LAT_BASE_RATE:-$((TEAMS / 10))}
TIMEOUT=${TIMEOUT:-1800}          # per throughput run

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ccpulse-peers.XXXXXX")
# shellcheck source=lib.sh
source "$here/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
results=$work/results.jsonl
: >"$results"
loadavg() { echo "{\"phase\":\"load\",\"at\":\"$1\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >>"$results"; }
loadavg start
build_all
start_broker

log "producing $EVENTS events ($TEAMS teams, seed $SEED, in order, no duplicates) to topic bench ($PARTITIONS partitions)"
t0=$(date +%s)
"$CCPULSE" simulate --teams "$TEAMS" --seed "$SEED" --start 2026-03-02T08:00:00Z --out-of-order 0 --duplicates 0 \
  --limit "$EVENTS" --brokers "$bootstrap" --topic bench --partitions "$PARTITIONS" 2>"$work/produce.log"
log "produced in $(($(date +%s) - t0)) s"

# One throughput run: engine $1, run $2. Appends a JSON line to $results.
throughput() {
  local engine=$1 run=$2 json status=0
  case $engine in
    bare)
      "$BARE" --brokers "$bootstrap" --topic bench --group "bare-$run" --expect "$EVENTS" \
        --progress "$work/bare-$run.progress" 2>"$work/bare-$run.log" &
      engine_pid=$!
      pids+=("$engine_pid")
      json=$("$here/measure.py" --pid "$engine_pid" --expect "$EVENTS" --timeout "$TIMEOUT" --label bare \
        --interval 0.02 --source "file:$work/bare-$run.progress:0") || status=1
      stop_engine
      ;;
    ccpulse)
      start_ccpulse bench "ccpulse-$run" "$work/ccpulse-$run.log"
      "$PROBE" offsets --brokers "$bootstrap" --topic bench --group "ccpulse-$run" --interval-ms 100 \
        >"$work/ccpulse-$run.offsets" 2>/dev/null &
      local probe_pid=$!
      pids+=("$probe_pid")
      json=$("$here/measure.py" --pid "$engine_pid" --expect "$EVENTS" --timeout "$TIMEOUT" --label ccpulse \
        --source "file:$work/ccpulse-$run.offsets:1") || status=1
      stop_engine
      stop_pid "$probe_pid" 5
      local late
      late=$(topic_records "ccpulse-$run-dead-letters")
      json=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["engine"]={"dead_letters":int(sys.argv[2])}; print(json.dumps(d))' "$json" "$late")
      ;;
    ks-default|ks-tuned)
      local properties=
      [[ $engine == ks-tuned ]] && properties=$here/kafka-streams/tuned.properties
      start_kstreams bench "$engine-$run" "$properties" "$work/$engine-$run.log"
      json=$("$here/measure.py" --pid "$engine_pid" --expect "$EVENTS" --timeout "$TIMEOUT" --label "$engine" \
        --source "kstreams:$engine_url") || status=1
      stop_engine
      rm -rf "$work/state-$engine-$run"
      ;;
  esac
  [[ -n ${json:-} ]] || json="{\"label\":\"$engine\",\"complete\":false}"
  echo "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["phase"]="throughput"; d["run"]=int(sys.argv[1]); print(json.dumps(d))' "$run" >>"$results"
  log "throughput $engine run $run: $(tail -1 "$results" | cut -c1-400)"
  return $status
}

# One latency run: engine $1, run $2, on a fresh topic fed at a fixed rate: the simulator at
# load $4 and speed $3 (default LAT_LOAD, LAT_SPEED); result label $5 (default the engine).
# For ccpulse it also takes the difference of its own processing-latency histogram between the
# end of the warm-up and the end of the probe (histogram.py).
latency() {
  local engine=$1 run=$2 speed=${3:-$LAT_SPEED} load=${4:-$LAT_LOAD} label=${5:-$1}
  local topic="lat-$label-$run" json status=0 hist=
  "$CCPULSE" simulate --teams "$TEAMS" --seed "$SEED" --start 2026-03-02T09:00:00Z --load "$load" \
    --speed "$speed" --out-of-order 0 --duplicates 0 --brokers "$bootstrap" --topic "$topic" \
    --partitions "$PARTITIONS" 2>"$work/$topic.sim.log" &
  local sim_pid=$!
  pids+=("$sim_pid")
  wait_topic "$topic"
  case $engine in
    ccpulse) start_ccpulse "$topic" "$topic" "$work/$topic.log" ;;
    ks-default) start_kstreams "$topic" "$topic" "" "$work/$topic.log" ;;
    ks-tuned) start_kstreams "$topic" "$topic" "$here/kafka-streams/tuned.properties" "$work/$topic.log" ;;
  esac
  local scrape_pid=
  if [[ $engine == ccpulse ]]; then
    (sleep "$LAT_SKIP"; scrape_latency "$engine_url" >"$work/$topic.hist0") &
    scrape_pid=$!
  fi
  json=$("$PROBE" latency --brokers "$bootstrap" --topic "$topic" --group "probe-$topic" \
    --url "$engine_url/api/v1/teams/default/$(first_team "$TEAMS")" --lateness-ms 120000 --slice-ms 10000 \
    --duration-s "$LAT_SECONDS" --skip-s "$LAT_SKIP" --poll-ms 5 --out "$work/$topic.samples") || status=1
  if [[ -n $scrape_pid ]]; then
    wait "$scrape_pid" || true
    scrape_latency "$engine_url" >"$work/$topic.hist1" || true
    hist=$("$here/histogram.py" "$work/$topic.hist0" "$work/$topic.hist1" 2>/dev/null || true)
  fi
  stop_engine
  stop_pid "$sim_pid" 10
  [[ -n ${json:-} ]] || json="{\"samples\":0}"
  echo "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
d.update(phase="latency", label=sys.argv[1], run=int(sys.argv[2]), speed=float(sys.argv[3]), load=float(sys.argv[4]))
if sys.argv[5]:
    d["histogram"] = json.loads(sys.argv[5])
print(json.dumps(d))' "$label" "$run" "$speed" "$load" "$hist" >>"$results"
  log "latency $label run $run: $(tail -1 "$results")"
  return $status
}

# The processing-latency histogram lines of ccpulse's /metrics at $1.
scrape_latency() {
  curl -sf --max-time 20 "$1/metrics" | grep '^ccpulse_processing_latency_seconds_bucket'
}

failed=0
for ((run = 1; run <= REPEAT; run++)); do
  for engine in $ENGINES; do throughput "$engine" "$run" || failed=1; done
done
loadavg "after throughput"
for ((run = 1; run <= REPEAT; run++)); do
  for engine in $LAT_ENGINES; do latency "$engine" "$run" || failed=1; done
done
loadavg "after fixed-rate latency"
if ((HALF_RUNS > 0)) && [[ " $ENGINES " == *" ccpulse "* || -n $HALF_RATE ]]; then
  half=${HALF_RATE:-$(python3 -c '
import json, statistics, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = [x["events_per_s"] for x in r if x.get("phase") == "throughput" and x.get("label") == "ccpulse" and "events_per_s" in x]
print(int(statistics.median(v) / 2) if v else 0)' "$results")}
  if ((half > 0)); then
    half_speed=$(python3 -c 'import sys; print(round(int(sys.argv[1]) / (float(sys.argv[2]) * int(sys.argv[3])), 2))' \
      "$half" "$HALF_LOAD" "$LAT_BASE_RATE")
    log "ccpulse at about half its sustained rate: target $half events/s (load $HALF_LOAD, speed $half_speed)"
    for ((run = 1; run <= HALF_RUNS; run++)); do
      latency ccpulse "$run" "$half_speed" "$HALF_LOAD" ccpulse-half || failed=1
    done
    loadavg "after half-rate latency"
  fi
fi

elapsed=$(($(date +%s) - started))
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
loadavg end
python3 "$here/report.py" "$results" --events "$EVENTS" --teams "$TEAMS" --partitions "$PARTITIONS" \
  --repeat "$REPEAT" --lat-speed "$LAT_SPEED" --lat-load "$LAT_LOAD" --elapsed "$elapsed" --machine "$machine" \
  --target-half "${half:-0}"
echo
echo "Raw results (JSON Lines):"
cat "$results"
[[ -n ${RESULTS_FILE:-} ]] && cp "$results" "$RESULTS_FILE"
log "done in ${elapsed} s"
exit $failed
