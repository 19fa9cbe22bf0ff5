#!/usr/bin/env python3
"""Turns run.sh's raw results (JSON Lines) into the Markdown table of README.md: medians over
the runs of each configuration, with the range, and the ccpulse / Kafka Streams ratios."""
import argparse
import json
import statistics

NAMES = {"bare": "bare librdkafka consumer (ceiling)", "ccpulse": "ccpulse run",
         "ks-default": "Kafka Streams, default settings", "ks-tuned": "Kafka Streams, tuned"}


def med(values):
    return statistics.median(values) if values else None


def cell(values, fmt):
    if not values:
        return "–"
    m = med(values)
    if len(values) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    for flag in ("--events", "--teams", "--partitions", "--repeat", "--elapsed"):
        p.add_argument(flag, type=int, default=0)
    p.add_argument("--lat-speed", type=float, default=0)
    p.add_argument("--lat-load", type=float, default=0)
    p.add_argument("--machine", default="")
    p.add_argument("--target-half", type=int, default=0)
    a = p.parse_args()
    rows = [json.loads(line) for line in open(a.results) if line.strip()]
    tp = {k: [r for r in rows if r.get("phase") == "throughput" and r.get("label") == k and "events_per_s" in r]
          for k in NAMES}
    lat = {k: [r for r in rows if r.get("phase") == "latency" and r.get("label") == k and r.get("samples", 0) > 0]
           for k in NAMES}
    incomplete = [r for r in rows if r.get("phase") == "throughput" and "events_per_s" not in r]
    half = [r for r in rows if r.get("phase") == "latency" and r.get("label") == "ccpulse-half"]

    print(f"### Results: {a.events:,} events, {a.teams:,} teams, {a.partitions} partitions, "
          f"{a.repeat} runs per configuration (median, range in brackets)\n")
    print("| engine | events/s | CPU s per 1M events | events per CPU-second | peak RSS MiB "
          "| window-close latency p50 / p99 (ms) |")
    print("|---|---|---|---|---|---|")
    for k, name in NAMES.items():
        t, l = tp[k], lat[k]
        per_cpu = [1e6 / r["cpu_s_per_million"] for r in t if r.get("cpu_s_per_million")]
        latency = "n/a (no windows)" if k == "bare" else (
            f"{cell([r['p50_ms'] for r in l], '{:,.0f}')} / {cell([r['p99_ms'] for r in l], '{:,.0f}')}" if l else "–")
        print(f"| {name} | {cell([r['events_per_s'] for r in t], '{:,.0f}')} "
              f"| {cell([r['cpu_s_per_million'] for r in t], '{:.2f}')} | {cell(per_cpu, '{:,.0f}')} "
              f"| {cell([r['peak_rss_mib'] for r in t], '{:,.0f}')} | {latency} |")
    print()
    c = tp["ccpulse"]
    for k in ("ks-default", "ks-tuned"):
        if c and tp[k]:
            cpu_ratio = med([r["cpu_s_per_million"] for r in tp[k]]) / med([r["cpu_s_per_million"] for r in c])
            rate_ratio = med([r["events_per_s"] for r in c]) / med([r["events_per_s"] for r in tp[k]])
            mem_ratio = med([r["peak_rss_mib"] for r in tp[k]]) / med([r["peak_rss_mib"] for r in c])
            print(f"- ccpulse vs {NAMES[k]}: **{cpu_ratio:.1f}x** events per CPU-second "
                  f"(target >= 10x: {'met' if cpu_ratio >= 10 else 'NOT met'}), {rate_ratio:.1f}x events/s, "
                  f"{mem_ratio:.1f}x less peak memory")
    if tp["bare"] and c:
        print(f"- ccpulse reaches {100 * med([r['events_per_s'] for r in c]) / med([r['events_per_s'] for r in tp['bare']]):.0f} % "
              f"of the bare consumer's events/s and spends "
              f"{med([r['cpu_s_per_million'] for r in c]) / med([r['cpu_s_per_million'] for r in tp['bare']]):.1f}x its CPU per event")
    rates = [r["input_events_per_s"] for k in NAMES for r in lat[k]]
    if rates:
        print(f"- latency input: {a.teams:,} teams at load {a.lat_load} and {a.lat_speed:g}x real time, "
              f"{med(rates):,.0f} events/s (median over runs; {min(rates):,.0f}–{max(rates):,.0f}); "
              f"{sum(r['samples'] for k in NAMES for r in lat[k])} window ends measured in all")
    drops = [(r["label"], r["run"], r["engine"]) for r in rows if r.get("phase") == "throughput" and
             (r.get("engine", {}).get("dropped_records", 0) or r.get("engine", {}).get("late", 0) or
              r.get("engine", {}).get("dead_letters", 0))]
    for label, run, engine in drops:
        print(f"- WARNING: {label} run {run} dropped or dead-lettered records: {engine}")
    for r in incomplete:
        print(f"- WARNING: {r.get('label')} run {r.get('run')} did not finish: {r}")
    if half:
        print(f"\n### ccpulse at about half its sustained rate (target {a.target_half:,} events/s; "
              f"{len(half)} runs, median and range)\n")
        print("| input events/s (achieved) | per record: timestamp -> in a published snapshot, p50 / p99 / p99.9 (ms) "
              "| windowed metrics: window close -> visible in the API, p50 / p99 / p99.9 (ms) | window ends measured |")
        print("|---|---|---|---|")
        hs = [r["histogram"] for r in half if r.get("histogram", {}).get("records")]
        hist = " / ".join(cell([h[f"{q}_ms"] for h in hs], "{:,.1f}") for q in ("p50", "p99", "p999")) if hs else "–"
        ok = [r for r in half if r.get("samples", 0) > 0]
        close = " / ".join(cell([r[f"{q}_ms"] for r in ok], "{:,.0f}") for q in ("p50", "p99", "p999")) if ok else "–"
        print(f"| {cell([r['input_events_per_s'] for r in half if r.get('input_events_per_s')], '{:,.0f}')} | {hist} "
              f"| {close} | {sum(r.get('samples', 0) for r in half)} |")
        if hs:
            print(f"\n- per-record figures from ccpulse's `ccpulse_processing_latency_seconds` histogram over "
                  f"{sum(h['records'] for h in hs):,} records (interpolated inside fixed buckets; upper bounds "
                  f"p50 <= {max(h['p50_le_ms'] or 0 for h in hs):g} ms, p99 <= {max(h['p99_le_ms'] or 0 for h in hs):g} ms, "
                  f"p99.9 <= {max(h['p999_le_ms'] or 0 for h in hs):g} ms)")
    loads = [(r["at"], r["loadavg"]) for r in rows if r.get("phase") == "load"]
    if loads:
        print("- load average (1, 5, 15 min): " + "; ".join(f"{at}: {la}" for at, la in loads))
    if a.machine:
        print(f"- machine: {a.machine}")
    if a.elapsed:
        print(f"- run.sh took {a.elapsed // 60} min {a.elapsed % 60} s")


if __name__ == "__main__":
    main()
