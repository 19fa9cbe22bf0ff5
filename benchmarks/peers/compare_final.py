#!/usr/bin/env python3
"""Compares the final window values of ccpulse and the Kafka Streams peer (check.sh).

usage: compare_final.py CCPULSE_REPLAY.jsonl KSTREAMS_FINAL.jsonl

CCPULSE_REPLAY.jsonl is `ccpulse replay` output: its "final": true records (windows ending at
the summary's windows_end). KSTREAMS_FINAL.jsonl is the peer's GET /api/v1/final?end=MS for the
same end. For every (tenant, team, window) on either side (a side without the record means no
contribution: zero counts), it compares escalation ratio and abandon ratio exactly (numerator,
denominator and value) and AHT (the mean of the same millisecond durations) within a relative
1e-9 (both divide the same integers in IEEE doubles; the margin only absorbs JSON printing).
Exits 1 on any mismatch, 0 otherwise, with a one-line summary on stdout.
"""
import json
import math
import sys


def load_ccpulse(path):
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if not r.get("final") or r.get("window") == "today":
                continue
            m = r["metrics"]
            esc, ab = m["escalation_ratio"], m["abandon_ratio"]
            out[(r["tenant"], r["team"], r["window"])] = {
                "escalated": esc["numerator"], "handled": esc["denominator"], "escalation_ratio": esc["value"],
                "abandoned": ab["numerator"], "abandon_denominator": ab["denominator"], "abandon_ratio": ab["value"],
                "aht_seconds": m["aht_seconds"],
            }
    return out


def load_kstreams(path):
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            out[(r["tenant"], r["team"], r["window"])] = {
                "escalated": r["escalated"], "handled": r["handled"], "escalation_ratio": r["escalation_ratio"],
                "abandoned": r["abandoned"], "abandon_denominator": r["answered"] + r["abandoned"],
                "abandon_ratio": r["abandon_ratio"], "aht_seconds": r["aht_seconds"],
            }
    return out


EMPTY = {"escalated": 0, "handled": 0, "escalation_ratio": None, "abandoned": 0, "abandon_denominator": 0,
         "abandon_ratio": None, "aht_seconds": None}


def same(a, b, rel):
    if a is None or b is None:
        return a is None and b is None
    return a == b if rel == 0 else math.isclose(a, b, rel_tol=rel, abs_tol=0.0)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ccpulse, kstreams = load_ccpulse(sys.argv[1]), load_kstreams(sys.argv[2])
    if not ccpulse:
        sys.exit("compare_final: no final records in " + sys.argv[1])
    checks = [("escalated", 0), ("handled", 0), ("escalation_ratio", 0), ("abandoned", 0),
              ("abandon_denominator", 0), ("abandon_ratio", 0), ("aht_seconds", 1e-9)]
    mismatches, aht_exact, aht_compared = [], 0, 0
    keys = sorted(set(ccpulse) | set(kstreams))
    for key in keys:
        c, k = ccpulse.get(key, EMPTY), kstreams.get(key, EMPTY)
        for field, rel in checks:
            if not same(c[field], k[field], rel):
                mismatches.append(f"{'/'.join(key)} {field}: ccpulse {c[field]} kafka-streams {k[field]}")
        if c["aht_seconds"] is not None and k["aht_seconds"] is not None:
            aht_compared += 1
            aht_exact += c["aht_seconds"] == k["aht_seconds"]
    handled = sum(c["handled"] for c in ccpulse.values())
    print(f"compared {len(keys)} team windows ({len(ccpulse)} from ccpulse, {len(kstreams)} from Kafka Streams; "
          f"{handled} handled outcomes in all): {len(mismatches)} mismatches; "
          f"AHT bit-identical in {aht_exact}/{aht_compared}")
    for m in mismatches[:20]:
        print("  " + m)
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
