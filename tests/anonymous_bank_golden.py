#!/usr/bin/env python3
"""Golden test on real data: `ccpulse replay --format anonymous-bank-csv` over one day of the
Anonymous Bank call log (../shared/data/anonymous-bank-call-log/calls_one_day.csv) against
abandon ratio, service level and repeat contacts computed here, straight from the CSV, per queue
type (the `type` column, which is the team). Every figure must match exactly.

Definitions (DESIGN §4 with the defaults: short_abandon 5 s, sl_threshold 20 s, forward_gap 10 min,
repeat_window 72 h) applied to the rows as schemas/README.md maps them:
- a call reached the queue if q_start is not 0:00:00 (wait = q_time), or if it was served straight
  from the VRU (outcome AGENT, q_start 0:00:00: wait 0); other calls ended in the VRU and count
  nowhere;
- answered = served (AGENT); abandoned = HANG or PHANTOM after reaching the queue, short when the
  wait is under 5 s; abandon ratio = long abandons / (answered + long abandons); service level =
  answered with wait <= 20 s / (answered + long abandons);
- repeat contacts: walking the calls' starts (queue entry) and ends (service end of answered calls)
  in time order, a start by an identified customer (customer_id != 0) more than 10 min and less
  than 72 h after the end of that customer's latest finished call is a repeat, charged to the team
  of that call; repeat contact ratio = repeats charged to T / calls answered (resolved) by T.

Usage: anonymous_bank_golden.py path/to/ccpulse [path/to/calls_one_day.csv]
"""

import collections
import csv
import datetime
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO.parent / "shared" / "data" / "anonymous-bank-call-log" / "calls_one_day.csv"
SKIP = 77  # ctest SKIP_RETURN_CODE

SHORT_ABANDON_S = 5
SL_THRESHOLD_S = 20
FORWARD_GAP_S = 10 * 60
REPEAT_WINDOW_S = 72 * 3600


def clock(day, text):
    h, m, s = (int(x) for x in text.split(":"))
    return day + h * 3600 + m * 60 + s


def expected(path):
    counts = collections.defaultdict(collections.Counter)
    facts = []  # (time, team, kind 0=start/1=end, customer, call)
    team_order = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            day = int(datetime.datetime.strptime(row["date"], "%Y-%m-%d")
                      .replace(tzinfo=datetime.timezone.utc).timestamp())
            team, served = row["type"], row["outcome"] == "AGENT"
            if row["q_start"] != "0:00:00":
                start, wait = clock(day, row["q_start"]), int(row["q_time"])
            elif served:
                start, wait = clock(day, row["ser_start"]), 0
            else:
                continue  # ended in the VRU
            team_order.setdefault(team, len(team_order))
            call = (row["call_id"], row["vru_entry"])
            c = counts[team]
            c["inflow"] += 1
            if served:
                c["answered"] += 1
                c["resolved"] += 1
                c["in_sl"] += wait <= SL_THRESHOLD_S
                end = max(clock(day, row["ser_exit"]), start + wait)
                facts.append((end, team, 1, row["customer_id"], call))
            elif wait < SHORT_ABANDON_S:
                c["abandoned_short"] += 1
            else:
                c["abandoned"] += 1
            facts.append((start, team, 0, row["customer_id"], call))

    # Equal times: the engine orders by team (in order of first appearance), then starts first.
    facts.sort(key=lambda f: (f[0], team_order[f[1]], f[2]))
    latest_end = {}  # customer -> (end time, team, call)
    for time, team, kind, customer, call in facts:
        if customer == "0":
            continue
        if kind == 1:
            latest_end[customer] = (time, team, call)
            continue
        previous = latest_end.get(customer)
        if previous and previous[2] != call and FORWARD_GAP_S < time - previous[0] < REPEAT_WINDOW_S:
            counts[previous[1]]["repeats"] += 1

    result = {}
    for team, c in counts.items():
        denominator = c["answered"] + c["abandoned"]
        result[team] = {
            "inflow": c["inflow"],
            "answered": c["answered"],
            "resolved": c["resolved"],
            "abandoned": c["abandoned"],
            "abandoned_short": c["abandoned_short"],
            "abandon_ratio": (c["abandoned"], denominator),
            "service_level": (c["in_sl"], denominator),
            "repeat_contact_ratio": (c["repeats"], c["resolved"]),
        }
    return result


def observed(binary, path):
    # Rows are not in time order (one row is written per call, and the file is not sorted):
    # lateness of a day keeps every event in play, retention must be at least the lateness.
    cmd = [str(binary), "replay", "--format", "anonymous-bank-csv", "--lateness", "1d",
           "--retention", "1d", "--every", "1h", "--no-detectors", str(path)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        sys.exit(f"replay failed ({run.returncode}): {run.stderr[-2000:]}")
    result, summary = {}, None
    for line in run.stdout.splitlines():
        record = json.loads(line)
        if "summary" in record:
            summary = record["summary"]
        elif record.get("window") == "today" and record.get("final"):
            m = record["metrics"]
            result[record["team"]] = {
                "inflow": m["inflow"],
                "answered": m["answered"],
                "resolved": m["resolved"],
                "abandoned": m["abandoned"],
                "abandoned_short": m["abandoned_short"],
                **{k: (m[k]["numerator"], m[k]["denominator"])
                   for k in ("abandon_ratio", "service_level", "repeat_contact_ratio")},
            }
    return result, summary


def ratio(pair):
    return f"{pair[0]}/{pair[1]} = {pair[0] / pair[1]:.4f}" if pair[1] else f"{pair[0]}/0"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = pathlib.Path(sys.argv[1])
    path = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_CSV
    if not path.exists():
        print(f"SKIP: {path} not found (shared/ must sit beside the repository)")
        return SKIP
    want = expected(path)
    got, summary = observed(binary, path)
    failures, teams_passed = [], 0
    if summary is None or summary["invalid"] != 0 or summary["late"] != 0:
        failures.append(f"summary: expected no invalid and no late records, got {summary}")
    for team in sorted(set(want) | set(got)):
        w, g = want.get(team), got.get(team)
        if w != g:
            failures.append(f"{team}: expected {w}\n{' ' * len(team)}  got      {g}")
        else:
            teams_passed += 1
        if not w:
            continue
        print(f"{team:>3}: abandon {ratio(w['abandon_ratio'])}, service level {ratio(w['service_level'])}, "
              f"repeat contacts {ratio(w['repeat_contact_ratio'])}  (python)")
        if g:
            print(f"{'':>3}  abandon {ratio(g['abandon_ratio'])}, service level {ratio(g['service_level'])}, "
                  f"repeat contacts {ratio(g['repeat_contact_ratio'])}  (ccpulse)")
    validate = subprocess.run([str(binary), "validate", "--format", "anonymous-bank-csv", str(path)],
                              capture_output=True, text=True, timeout=120)
    if validate.returncode != 0:
        failures.append(f"validate --format anonymous-bank-csv: exit {validate.returncode}: {validate.stdout[:500]}")
    for failure in failures:
        print("FAIL:", failure)
    print(f"{teams_passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
