#!/usr/bin/env python3
"""Cost of the repartition stage (kafka.repartition) on a real broker: one `ccpulse run` reads
pre-produced events keyed by event id, once directly and once through the stage (transactions
into a customer-keyed internal topic, then the engine), alternating, in one run on one machine.

    benchmarks/repartition.py BUILD/pipeline/ccpulse [events] [repeat]

Reports the wall time from start until the engine has consumed every event, events/s, and the
ratio (medians). Then the latency at a steady input rate (2,000 events/s for 30 s, produced as
they are due): the engine's `ccpulse_processing_latency_seconds` and, through the stage,
`ccpulse_repartition_delay_seconds` (input timestamp to the stage's commit), as the histogram
bucket bounds their medians and 99th percentiles fall in. Starts and stops its own broker
(tests/support/kafka.sh, 127.0.0.1).
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


def start(binary, work, brokers, topic, name, repartition):
    """Starts `ccpulse run` on `topic` (through the stage when `repartition`); returns (process, url)."""
    cfg = os.path.join(work, f"{name}.yaml")
    lines = ["kafka:", f'  brokers: "{brokers}"', f"  group: g-{name}", f"  topics: [{topic}]"]
    if repartition:
        lines += ["  repartition:", f"    topic: {name}-by-customer", "    partitions: 4"]
    lines += ["http:", "  address: 127.0.0.1:0", "alerting:", "  log: false"]
    with open(cfg, "w") as f:
        f.write("\n".join(lines) + "\n")
    err_path = os.path.join(work, f"{name}.err")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=err)
    try:
        url = kt.wait_for(lambda: next((line.split("serving ", 1)[1].split()[0]
                                        for line in open(err_path).read().splitlines() if "serving http://" in line),
                                       None), 60, f"{name} to listen")
    except BaseException:
        proc.kill()
        raise
    return proc, url


def metrics(url):
    return urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()


def wait_consumed(url, events, name):
    kt.wait_for(lambda: kt.metric_value(metrics(url), "ccpulse_records_consumed_total") >= events, 600,
                f"{name} to consume {events} events", interval=0.05)


def stop(proc):
    proc.terminate()
    proc.wait(timeout=60)


def run_once(binary, work, brokers, topic, events, name, repartition):
    started = time.time()
    proc, url = start(binary, work, brokers, topic, name, repartition)
    try:
        wait_consumed(url, events, name)
        return time.time() - started
    finally:
        stop(proc)


def quantile_bound(text, family, q):
    """The upper bound of the histogram bucket holding quantile q ("> 10 s" past the last)."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(family + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    if total == 0:
        return "none"
    for le, cumulative in buckets:
        if cumulative >= q * total:
            return f"<= {le * 1000:g} ms" if le != float("inf") else f"> {buckets[-2][0]:g} s"
    return "?"


def distribution(text, family):
    """Cumulative share of the samples per bucket bound, e.g. "<=0.1 s 78 %"."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(family + "_bucket{") and 'le="+Inf"' not in line:
            buckets.append((float(line.split('le="', 1)[1].split('"', 1)[0]), float(line.rsplit(" ", 1)[1])))
    total = next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(family + "_count")), 0)
    return ", ".join(f"<={le:g} s {100 * c / total:.1f} %" for le, c in sorted(buckets) if 0 < c) if total else "none"


def latency_run(binary, work, broker, events, rate, name, repartition):
    """Produces `events` at `rate` per second into a fresh topic the running instance reads;
    returns its /metrics text once it has consumed them all."""
    topic = f"{name}-input"
    kt.create_topic(broker, topic, 4)
    proc, url = start(binary, work, broker.bootstrap, topic, name, repartition)
    try:
        kt.wait_for(lambda: urllib.request.urlopen(f"{url}/readyz", timeout=5).status == 200, 60, f"{name} ready")
        time.sleep(5)  # the stage's own group settles too (it shows no readiness of its own)
        producer = subprocess.Popen(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-K", "\t"], stdin=subprocess.PIPE,
                                    text=True)
        began = time.time()
        for i, e in enumerate(events):
            wait = began + i / rate - time.time()
            if wait > 0:
                producer.stdin.flush()
                time.sleep(wait)
            producer.stdin.write(f"{e['event_id']}\t{json.dumps(e, separators=(',', ':'))}\n")
        producer.stdin.close()
        producer.wait(timeout=120)
        wait_consumed(url, len(events), name)
        time.sleep(2)  # the self-metrics are refreshed every second
        return metrics(url)
    finally:
        stop(proc)


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
        rate, paced = 2000, events[:60_000]
        print()
        notes = ""
        print(f"| at {rate:,} events/s | processing latency p50 | p99 | stage delay p50 | p99 |")
        print("|---|---|---|---|---|")
        for mode in ("direct", "repartitioned"):
            text = latency_run(binary, work, broker, paced, rate, f"latency-{mode}", mode == "repartitioned")
            row = [quantile_bound(text, "ccpulse_processing_latency_seconds", q) for q in (0.5, 0.99)]
            row += [quantile_bound(text, "ccpulse_repartition_delay_seconds", q) for q in (0.5, 0.99)]
            print(f"| {mode} | " + " | ".join(row) + " |")
            if mode == "repartitioned":
                notes = f"stage delay: {distribution(text, 'ccpulse_repartition_delay_seconds')}"
        print(notes)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
