#!/usr/bin/env bash
# Do ccpulse and the Kafka Streams peer compute the same values? On the same seeded events, it
# compares ccpulse replay's final records (every team and window, ending at the end of the slice
# of the last event) with the peer's windows ending at the same instant, read through
# interactive queries after it consumed the same events from a real broker:
# escalation ratio and abandon ratio exactly (numerator, denominator, value), AHT to 1e-9
# (compare_final.py). Exits non-zero on any mismatch. Not part of CI (it needs Maven, a JVM
# and minutes).
#
#   benchmarks/peers/check.sh
#   TEAMS=1000 EVENTS=1000000 DUPLICATES=0.005 benchmarks/peers/check.sh
#
# Events are in event-time order (--out-of-order 0): the peer's fold applies an interaction's
# events in arrival order, while ccpulse also re-folds late arrivals (README.md here).
# Duplicated deliveries (default 0.5 %, as the simulator's default) are in.
set -euo pipefail

TEAMS=${TEAMS:-1000}
EVENTS=${EVENTS:-500000}
SEED=${SEED:-11}
PARTITIONS=${PARTITIONS:-4}
DUPLICATES=${DUPLICATES:-0.005}
PROPERTIES=${PROPERTIES:-}   # e.g. benchmarks/peers/kafka-streams/tuned.properties
TIMEOUT=${TIMEOUT:-900}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ccpulse-peers-check.XXXXXX")
# shellcheck source=lib.sh
source "$here/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_all
sim=(--teams "$TEAMS" --seed "$SEED" --start 2026-03-02T08:00:00Z --out-of-order 0 --duplicates "$DUPLICATES"
     --limit "$EVENTS")
log "simulating $EVENTS events ($TEAMS teams, seed $SEED, duplicates $DUPLICATES) and replaying them with ccpulse"
"$CCPULSE" simulate "${sim[@]}" >"$work/events.jsonl"
"$CCPULSE" replay --quiet --no-detectors "$work/events.jsonl" >"$work/ccpulse.jsonl"
end_ms=$(tail -1 "$work/ccpulse.jsonl" | python3 -c '
import datetime, json, sys
s = json.load(sys.stdin)["summary"]
print(int(datetime.datetime.fromisoformat(s["windows_end"].replace("Z", "+00:00")).timestamp() * 1000))')
log "ccpulse: $(tail -1 "$work/ccpulse.jsonl")"

start_broker
log "producing the same events to topic check ($PARTITIONS partitions)"
"$CCPULSE" simulate "${sim[@]}" --brokers "$bootstrap" --topic check --partitions "$PARTITIONS" 2>"$work/produce.log"
start_kstreams check ks-check "$PROPERTIES" "$work/ks.log"
log "Kafka Streams peer at $engine_url; waiting until it has aggregated every event"
deadline=$((SECONDS + TIMEOUT))
until python3 - "$engine_url" "$EVENTS" <<'PY'
import json, sys, urllib.request
try:
    s = json.load(urllib.request.urlopen(sys.argv[1] + "/stats", timeout=2))
except Exception:
    sys.exit(1)
sys.exit(0 if s["consumed"] >= int(sys.argv[2]) and s["aggregated"] == s["deltas"] else 1)
PY
do
  if ((SECONDS > deadline)) || ! kill -0 "$engine_pid" 2>/dev/null; then
    log "the peer did not finish"; tail -20 "$work/ks.log" >&2; exit 1
  fi
  sleep 1
done
stats=$(curl -sf "$engine_url/stats")
log "Kafka Streams peer: $stats"
curl -sf "$engine_url/api/v1/final?end=$end_ms" >"$work/kstreams.jsonl"
status=0
python3 "$here/compare_final.py" "$work/ccpulse.jsonl" "$work/kstreams.jsonl" || status=1
python3 - "$stats" "$work/ccpulse.jsonl" <<'PY' || status=1
import json, sys
ks = json.loads(sys.argv[1])
summary = json.loads(open(sys.argv[2]).read().splitlines()[-1])["summary"]
problems = []
if ks["dropped_records"] or ks["late"] or ks["invalid"]:
    problems.append(f"the peer dropped {ks['dropped_records']}, found {ks['late']} late and {ks['invalid']} invalid")
if ks["duplicates"] != summary["duplicate_ids"]:
    problems.append(f"duplicate ids: ccpulse {summary['duplicate_ids']}, peer {ks['duplicates']}")
if ks["redundant"] != summary["repeated_transitions"]:
    problems.append(f"repeated transitions: ccpulse {summary['repeated_transitions']}, peer {ks['redundant']}")
print("counters: " + ("; ".join(problems) if problems else
      f"same duplicates ({ks['duplicates']}) and repeated transitions ({ks['redundant']}); nothing dropped"))
sys.exit(1 if problems else 0)
PY
if ((status == 0)); then log "check passed"; else log "check FAILED"; fi
exit $status
