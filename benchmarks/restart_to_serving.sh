#!/usr/bin/env bash
# Restart-to-serving with a large checkpoint (issue 6 target: <= 5 s for 1 GB): writes the
# benchmark stream's full state (462 MB; CCPULSE_BENCH_TEAMS=22000: ~1 GB) as a checkpoint,
# starts a real broker with the checkpoint's input topic, then times `ccpulse run` from exec to
# /readyz answering 200 (restore done, consuming, first snapshot published), three times; then
# the same from the compacted-topic backend (the benchmark writes the checkpoint there), three
# times. The last run then stays up for its first periodic checkpoint of that state (to the
# topic) and reports its pause, write time and the process's resident memory. Last, an active
# instance and a standby from the topic: the time from kill -9 of the active one until the
# standby has restored its checkpoint and is ready. Not a test; figures in benchmarks/README.md.
#   benchmarks/restart_to_serving.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
work="$(mktemp -d /tmp/ccpulse-restart-XXXXXX)"
trap 'kill -9 "${pid:-}" "${standby_pid:-}" 2>/dev/null || true; "$root/tests/support/kafka.sh" stop "$work/kafka" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

CCPULSE_KEEP_CHECKPOINTS="$work/checkpoints" "$build/benchmarks/checkpoint_benchmark" \
  --benchmark_filter=BM_DirectoryWrite >&2
brokers="$("$root/tests/support/kafka.sh" start "$work/kafka" | tail -1)"
java -cp "${CCPULSE_KAFKA_LIBS:-$HOME/.cache/ccpulse/kafka-3.9.1/libs}/*" org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$brokers" --create --topic events --partitions 1 --replication-factor 1 >/dev/null
cat >"$work/run.yaml" <<YAML
kafka: {brokers: "$brokers", group: restart, topics: [events]}
http: {address: "127.0.0.1:0"}
checkpoint: {dir: "$work/checkpoints"}
YAML
ls -l "$work/checkpoints" >&2
# Polls a command every 10 ms while process $1 lives, for 120 s at most.
await() {
  local process="$1" deadline=$((SECONDS + 120))
  shift
  until "$@"; do
    kill -0 "$process" 2>/dev/null || { echo "process $process exited:" >&2; tail -5 "$work"/*err >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "timed out waiting for: $*" >&2; exit 1; }
    sleep 0.01
  done
}
url_of() { grep -o 'serving http://[0-9.:]*' "$1" | cut -d' ' -f2 || true; }
serving() { url="$(url_of "$1")"; [[ -n "$url" ]] && curl -sf -o /dev/null "$url/readyz"; }
# Starts `ccpulse run` (pid; config: $work/${config:-run}.yaml) and prints the time from exec
# to /readyz 200 (url set) as "$1, run $2".
time_to_serving() {
  local start ready
  start=$(date +%s.%N)
  "$build/pipeline/ccpulse" run --config "$work/${config:-run}.yaml" 2>"$work/err" &
  pid=$!
  await "$pid" serving "$work/err"
  ready=$(date +%s.%N)
  grep -o 'restored checkpoint.* ms;' "$work/err" | sed 's/;.*//' >&2
  echo "$1, run $2: restart to serving $(echo "$ready - $start" | bc) s"
}
for run in 1 2 3; do
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true  # cold page cache when allowed
  time_to_serving "directory backend" "$run"
  kill -TERM "$pid"; wait "$pid" || true
done

# The same state in the compacted-topic backend, as a standby takes it over: written and loaded
# back by the benchmark, then restored by `ccpulse run` from the topic (claim, load, restore).
CCPULSE_BENCH_BROKERS="$brokers" CCPULSE_BENCH_CHECKPOINT_NAME=restart "$build/benchmarks/checkpoint_benchmark" \
  --benchmark_filter=BM_TopicWriteAndLoad --benchmark_format=json >"$work/topic.json"
grep -q '"error_occurred": true' "$work/topic.json" && { grep '"error_message"' "$work/topic.json" >&2; exit 1; }
grep -E '"(real_time|load_ms|load_all_ms)"' "$work/topic.json" >&2
# A new group: the directory phase's static member keeps the partition until its session ends.
sed -i -e "s|checkpoint: .*|checkpoint: {kafka_topic: ccpulse-checkpoints, name: restart}|" \
  -e "s|group: restart|group: restart-topic|" "$work/run.yaml"
for run in 1 2 3; do
  time_to_serving "topic backend" "$run"
  [[ $run == 3 ]] || { kill -TERM "$pid"; wait "$pid" || true; }
done
metric() { curl -sf "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
for _ in $(seq 240); do  # the first periodic checkpoint, within 2 minutes
  [[ "$(metric 'ccpulse_checkpoints_total{result="durable"}')" == 1 ]] && break
  [[ "$(metric 'ccpulse_checkpoints_total{result="failed"}')" == 0 ]] || { echo "the periodic checkpoint failed" >&2; exit 1; }
  sleep 0.5
done
[[ "$(metric 'ccpulse_checkpoints_total{result="durable"}')" == 1 ]] || { echo "no durable checkpoint in 2 minutes" >&2; exit 1; }
echo "periodic checkpoint ($(metric ccpulse_checkpoint_bytes) bytes, rss $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")):" \
  "pause $(metric ccpulse_checkpoint_last_pause_seconds) s, write $(metric ccpulse_checkpoint_last_write_seconds) s," \
  "forked $(metric 'ccpulse_checkpoints_total{result="forked"}')"
kill -TERM "$pid"; wait "$pid" || true

# Take-over after kill -9: an active instance and a standby share the checkpoint name
# (standby: true, 6 s session timeout). Time from the kill until the standby has restored the
# dead one's checkpoint and answers /readyz (session timeout, rebalance, claim, load, restore).
cat >"$work/standby.yaml" <<YAML
kafka: {brokers: "$brokers", group: restart-standby, topics: [events], consumer: {session.timeout.ms: "6000"}}
http: {address: "127.0.0.1:0"}
checkpoint: {kafka_topic: ccpulse-checkpoints, name: restart, standby: true}
YAML
config=standby time_to_serving "active instance" 1
"$build/pipeline/ccpulse" run --config "$work/standby.yaml" 2>"$work/standby.err" &
standby_pid=$!
await "$standby_pid" serving "$work/standby.err"  # ready, standing by
sleep 2  # the group has settled
if grep -q 'restored checkpoint' "$work/standby.err"; then echo "the standby was given the partition at its start" >&2; exit 1; fi
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
unset pid
killed=$(date +%s.%N)
taken_over() { grep -q 'restored checkpoint' "$work/standby.err" && serving "$work/standby.err"; }
await "$standby_pid" taken_over
echo "standby take-over after kill -9: $(echo "$(date +%s.%N) - $killed" | bc) s"
grep -o 'restored checkpoint.* ms;' "$work/standby.err" | sed 's/;.*//' >&2
kill -TERM "$standby_pid"; wait "$standby_pid" || true
unset standby_pid
