#!/usr/bin/env python3
"""Percentiles of ccpulse's own processing-latency histogram between two scrapes (run.sh).

usage: histogram.py BEFORE AFTER

BEFORE and AFTER hold the `ccpulse_processing_latency_seconds_bucket` lines of two scrapes of
ccpulse's /metrics. The difference is the latency of every record applied between the scrapes:
Kafka record timestamp (CreateTime: when the simulator produced it) to the tick that published
a snapshot holding its effect (pipeline/stream.cc, StreamProcessor::Tick). The histogram has
fixed buckets (0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500 ms, 1, 2.5, 5, 10 s), so a percentile
is estimated by linear interpolation inside its bucket; "le" gives the bucket's upper bound,
an exact upper bound on the percentile. Prints one JSON object (milliseconds).
"""
import json
import re
import sys

LINE = re.compile(r'^ccpulse_processing_latency_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)$')


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                out[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = float(m.group(2))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    before, after = load(sys.argv[1]), load(sys.argv[2])
    bounds = sorted(after)
    cumulative = [after[b] - before.get(b, 0.0) for b in bounds]
    total = cumulative[-1] if cumulative else 0
    result = {"records": int(total)}
    if total <= 0:
        print(json.dumps(result))
        return
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        rank = q * total
        for i, b in enumerate(bounds):
            if cumulative[i] >= rank:
                lower = bounds[i - 1] if i > 0 else 0.0
                below = cumulative[i - 1] if i > 0 else 0.0
                inside = cumulative[i] - below
                if b == float("inf"):
                    value = lower  # beyond the last finite bound: report that bound
                else:
                    value = lower + (b - lower) * ((rank - below) / inside if inside else 1.0)
                result[f"{name}_ms"] = round(value * 1000, 2)
                result[f"{name}_le_ms"] = None if b == float("inf") else round(b * 1000, 3)
                break
    print(json.dumps(result))


if __name__ == "__main__":
    main()
