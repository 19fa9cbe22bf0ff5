#!/usr/bin/env python3
"""Cost of the repartition stage (kafka.repartition) on a real broker: one `ccpulse run` reads
pre-produced events keyed by event id, once directly and once through the stage (transactions
into a customer-keyed internal topic, then the engine), alternating, in one run on one machine.

    benchmarks/repartition.py BUILD/pipeline/ccpulse [events] [repeat]

Reports the wall time from start until the engine has consumed every event, events/s, and the
ratio (medians). Starts and stops its own broker (tests/support/kafka.sh, 127.0.0.1).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import kafka_test as kt  # noqa: E402


def run_once(binary, work, brokers, topic, events, name, repartition):
    cfg = os.path.join(work, f"{name}.yaml")
    lines = ["kafka:", f'  brokers: "{brokers}"', f"  group: g-{name}", f"  topics: [{topic}]"]
    if repartition:
        lines += ["  repartition:", f"    topic: {name}-by-customer", "    partitions: 4"]
    lines += ["http:", "  address: 127.0.0.1:0", "alerting:", "  log: false"]
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    err_path = os.path.join(work, f"{name}.err")
    with open(err_path, "w") as err:
        started = time.time()
        proc = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=err)
        try:
            url = kt.wait_for(lambda: next((line.split("serving ", 1)[1].split()[0]
                                            for line in open(err_path).read().splitlines() if "serving http://" in line),
                                           None), 60, f"{name} to listen")

            def consumed():
                text = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
                return kt.metric_value(text, "ccpulse_records_consumed_total") >= events
            kt.wait_for(consumed, 600, f"{name} to consume {events} events", interval=0.05)
            return time.time() - started
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main():
    binary = os.path.abspath(sys.argv[1])
    events_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 400_000
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    work = tempfile.mkdtemp(prefix="ccpulse-repartition-bench-")
    broker = kt.Broker(work)
    try:
        kt.log(f"broker at {broker.start()}")
        topic = "bench-input"
        kt.create_topic(broker, topic, 4)
        path = os.path.join(work, "events.jsonl")
        events = kt.simulate(binary, path, seed=7, teams=400, duration="12h")[:events_wanted]
        kt.produce(broker.bootstrap, topic, [(e["event_id"], json.dumps(e, separators=(",", ":"))) for e in events])
        kt.log(f"{len(events)} events produced, keyed by event id, into 4 partitions")
        times = {"direct": [], "repartitioned": []}
        for i in range(repeat):
            for mode in times:
                seconds = run_once(binary, work, broker.bootstrap, topic, len(events), f"{mode}-{i}",
                                   mode == "repartitioned")
                times[mode].append(seconds)
                kt.log(f"{mode} run {i + 1}: {seconds:.2f} s ({len(events) / seconds:,.0f} events/s)")
        direct, through = statistics.median(times["direct"]), statistics.median(times["repartitioned"])
        print(f"| events | direct (median) | repartitioned (median) | ratio |")
        print(f"|---|---|---|---|")
        print(f"| {len(events):,} | {direct:.2f} s, {len(events) / direct:,.0f}/s | {through:.2f} s, "
              f"{len(events) / through:,.0f}/s | {through / direct:.2f}x the time |")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
