#!/usr/bin/env python3
"""Samples one engine process while it works through a pre-produced topic (run.sh).

usage: measure.py --pid PID --expect N --source SOURCE [--timeout S] [--interval S] [--label L]

SOURCE says how far the engine is, in input records fully processed:
  file:PATH:FIELD   the FIELD-th (0-based) integer of the last line of PATH: the bare consumer's
                    progress file (records), or peer_probe's committed-offset log (for
                    `ccpulse run`, which commits the offsets of applied records every second)
  kstreams:URL      GET URL/stats of the Kafka Streams peer: "consumed"; done only when every
                    delta the fold emitted has also been aggregated ("aggregated" == "deltas")

Every --interval seconds it reads the progress, the process's CPU time (utime + stime of
/proc/PID/stat, every thread) and its peak resident memory (VmHWM of /proc/PID/status).
  start = the first sample with progress > 0 (start-up, JVM warm-up and rebalance excluded)
  end   = the first sample at which all N records are processed
  events_per_s      = (N - progress at start) / (end - start)
  cpu_s_per_million = CPU seconds between start and end / ((N - progress at start) / 1e6)
  peak_rss_mib      = VmHWM at end
Prints one JSON object. Exit status 1 if the engine died or did not finish within --timeout.
"""
import argparse
import json
import os
import sys
import time
import urllib.request

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reader(source, expect):
    kind, _, rest = source.partition(":")
    if kind == "file":
        path, _, field = rest.rpartition(":")
        field = int(field)

        def read():
            try:
                with open(path, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    f.seek(max(0, f.tell() - 4096))
                    lines = f.read().decode().strip().splitlines()
                n = int(lines[-1].split()[field]) if lines else 0
            except (OSError, ValueError, IndexError):
                return 0, False, {}
            return n, n >= expect, {}
        return read
    if kind == "kstreams":
        def read():
            try:
                with urllib.request.urlopen(rest + "/stats", timeout=2) as r:
                    s = json.load(r)
            except (OSError, ValueError):
                return 0, False, {}
            n = s["consumed"]
            return n, n >= expect and s["aggregated"] == s["deltas"], s
        return read
    sys.exit(f"measure.py: unknown source {source}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--label", default="")
    a = p.parse_args()
    read = reader(a.source, a.expect)
    t_launch = time.time()
    start = end = None
    extra = {}
    last = (0, 0.0)
    while time.time() - t_launch < a.timeout:
        try:
            now, cpu = time.time(), cpu_seconds(a.pid)
        except OSError:
            break  # the process is gone
        n, done, extra = read()
        last = (n, cpu)
        if start is None and n > 0:
            start = (now, n, cpu)
        if done:
            end = (now, n, cpu, vm_hwm_kib(a.pid))
            break
        time.sleep(a.interval)
    result = {"label": a.label, "expect": a.expect, "complete": end is not None}
    if start is not None and end is not None and end[0] > start[0]:
        events = a.expect - start[1]
        result.update({
            "events_measured": events,
            "seconds": round(end[0] - start[0], 3),
            "events_per_s": round(events / (end[0] - start[0]), 1),
            "cpu_s": round(end[2] - start[2], 2),
            "cpu_s_per_million": round((end[2] - start[2]) / (events / 1e6), 3),
            "cores_busy": round((end[2] - start[2]) / (end[0] - start[0]), 2),
            "peak_rss_mib": round(end[3] / 1024, 1),
            "wall_from_launch_s": round(end[0] - t_launch, 3),
            "cpu_from_launch_s": round(end[2], 2),
        })
    else:
        result.update({"progress": last[0], "cpu_s": last[1]})
    if extra:
        result["engine"] = {k: v for k, v in extra.items() if k != "state"}
    print(json.dumps(result))
    sys.exit(0 if result["complete"] else 1)


if __name__ == "__main__":
    main()
