#!/usr/bin/env python3
"""ccpulse's /metrics through a real Prometheus, against the golden case tests/golden/outcomes.

    tests/integration/prometheus_test.py build/release/pipeline/ccpulse

Replays tests/golden/outcomes/input.jsonl with `ccpulse replay --http 127.0.0.1:0 --hold`,
lints one scrape with `promtool check metrics`, starts Prometheus with
tests/support/prometheus.sh (scraping ccpulse every second, with the recording and alerting
rules of deploy/prometheus/rules loaded), and checks through PromQL that the team series
equal the values in tests/golden/outcomes/expected.jsonl, that the recording rules evaluate,
that every rule is healthy on real series, and that every query of the Grafana dashboard
runs. Python 3 standard library only; needs promtool and prometheus (Debian: prometheus).
Prints each check; exits 1 if any failed, 2 if the setup failed.
"""

import calendar
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden", "outcomes")
PROMETHEUS_SH = os.path.join(ROOT, "tests", "support", "prometheus.sh")
RULE_FILES = [os.path.join(ROOT, "deploy", "prometheus", "rules", name)
              for name in ("recording.yml", "alerts.yml")]
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "ccpulse-capacity.json")


class SetupError(Exception):
    pass


class Checks:
    """Collects results; every check prints one line."""

    def __init__(self):
        self.failures = 0
        self.count = 0

    def ok(self, what):
        self.count += 1
        print(f"ok    {what}")

    def fail(self, what, why):
        self.count += 1
        self.failures += 1
        print(f"FAIL  {what}: {why}")


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode("utf-8")


def rfc3339_to_epoch(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


class Ccpulse:
    """`ccpulse replay --http 127.0.0.1:0 --hold`; its URL is read from stderr."""

    def __init__(self, binary, workdir):
        self.stderr_lines = []
        self.url = None
        self._found = threading.Event()
        self.stdout = open(os.path.join(workdir, "replay.jsonl"), "w")
        args = [binary, "replay", "--http", "127.0.0.1:0", "--hold", "--every", "1h",
                os.path.join(GOLDEN, "input.jsonl")]
        print("run   " + " ".join(args))
        self.process = subprocess.Popen(args, stdout=self.stdout, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            match = re.search(r"serving (https?://\S+)", line)
            if match and self.url is None:
                self.url = match.group(1)
                self._found.set()
        self._found.set()  # the process ended

    def wait_url(self, timeout):
        self._found.wait(timeout)
        if self.url is None:
            raise SetupError("ccpulse did not print its URL; stderr:\n  " + "\n  ".join(self.stderr_lines[-20:]))
        return self.url

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: leaves --hold
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stdout.close()


class Prometheus:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "prometheus")
        self.url = None

    def start(self, target):
        env = dict(os.environ, PROM_RULE_FILES=" ".join(RULE_FILES))
        result = subprocess.run([PROMETHEUS_SH, "start", self.dir, target], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=90)
        if result.returncode != 0:
            raise SetupError("prometheus.sh start failed:\n" + result.stderr)
        self.url = result.stdout.strip().splitlines()[-1]
        print(f"run   prometheus at {self.url} scraping {target}")

    def stop(self):
        subprocess.run([PROMETHEUS_SH, "stop", self.dir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            body = json.loads(http_get(url))
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode("utf-8"))
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr):
        """Instant vector as [(labels, value)]."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]


def load_golden():
    """Final records by (team, window) and the summary of tests/golden/outcomes."""
    records, summary = {}, None
    with open(os.path.join(GOLDEN, "expected.jsonl")) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if "summary" in record:
                summary = record["summary"]
            elif record.get("final"):
                records[(record["team"], record["window"])] = record
    if not records or summary is None:
        raise SetupError("expected.jsonl has no final records or no summary")
    return records, summary


def expectations(records, summary):
    """(PromQL, expected value or None for "no series") derived from the golden records."""
    out = []
    add = out.append
    for (team, window), record in sorted(records.items()):
        m = record["metrics"]
        sel = f'tenant="{record["tenant"]}",team="{team}"'
        wsel = f'{sel},window="{window}"'
        if window == "15m":
            # Every event of the case lies inside the last 15 minutes, so the counters since
            # start equal the 15m window's counts.
            counters = {"inflow": f"ccpulse_team_contacts_total{{{sel}}}",
                        "answered": f"ccpulse_team_answered_total{{{sel}}}",
                        "abandoned": f'ccpulse_team_abandoned_total{{{sel},short="false"}}',
                        "abandoned_short": f'ccpulse_team_abandoned_total{{{sel},short="true"}}',
                        "expired": f"ccpulse_team_expired_total{{{sel}}}",
                        "gaps": f"ccpulse_team_gaps_total{{{sel}}}"}
            for outcome in ("resolved", "closed", "transferred", "escalated"):
                counters[outcome] = f'ccpulse_team_outcomes_total{{{sel},outcome="{outcome}"}}'
            for key, expr in counters.items():
                if key in m:
                    add((expr, m[key]))
            if "answered" in m:
                add((f"ccpulse_team_wait_seconds_count{{{sel}}}", m["answered"]))
            if "handled" in m:
                add((f"sum(ccpulse_team_outcomes_total{{{sel}}})", m["handled"]))
            if m.get("aht_seconds") is not None:
                add((f"ccpulse_team_handle_seconds_sum{{{sel}}} / ccpulse_team_handle_seconds_count{{{sel}}}",
                     m["aht_seconds"]))
            if m.get("asa_seconds") is not None:
                add((f"ccpulse_team_wait_seconds_sum{{{sel}}} / ccpulse_team_wait_seconds_count{{{sel}}}",
                     m["asa_seconds"]))
            if "backlog" in m and "waiting" in m["backlog"]:
                add((f"ccpulse_team_waiting{{{sel}}}", m["backlog"]["waiting"]))
            if "backlog" in m and "in_progress" in m["backlog"]:
                add((f"ccpulse_team_in_progress{{{sel}}}", m["backlog"]["in_progress"]))
        ratios = {"escalation_ratio": "ccpulse_team_escalation_ratio",
                  "transfer_ratio": "ccpulse_team_transfer_ratio",
                  "fcr_provisional_ratio": "ccpulse_team_fcr_provisional_ratio",
                  "fcr_confirmed_ratio": "ccpulse_team_fcr_confirmed_ratio",
                  "repeat_contact_ratio": "ccpulse_team_repeat_contact_ratio",
                  "abandon_ratio": "ccpulse_team_abandon_ratio",
                  "service_level": "ccpulse_team_service_level_ratio"}
        for key, name in ratios.items():
            if key in m:
                add((f"{name}{{{wsel}}}", m[key]["value"]))  # null: no series
        if "service_level" in m and "target" in m["service_level"]:
            add((f"ccpulse_team_service_level_target{{{sel}}}", m["service_level"]["target"]))
        for key, name in (("asa_seconds", "ccpulse_team_asa_seconds"), ("aht_seconds", "ccpulse_team_aht_seconds"),
                          ("required_agents", "ccpulse_team_required_agents")):
            if key in m:
                add((f"{name}{{{wsel}}}", m[key]))
    inflow_15m = sum(r["metrics"]["inflow"] for (t, w), r in records.items() if w == "15m")
    add(("sum(ccpulse_team_contacts_total)", inflow_15m))
    add(("count(ccpulse_team_contacts_total)", summary["teams"]))
    add(("ccpulse_teams", summary["teams"]))
    add(("ccpulse_records_consumed_total", summary["records"]))
    add(("ccpulse_events_applied_total", summary["events_applied"]))
    add(("ccpulse_duplicate_events_total", summary["duplicates"]))
    add(("ccpulse_late_events_total", summary["late"]))
    add(("ccpulse_windows_end_timestamp_seconds", rfc3339_to_epoch(summary["windows_end"])))
    return out


def same(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))


def wait_for_input_applied(url, records_total, deadline):
    """Polls /metrics until ccpulse has consumed the whole input; returns that scrape."""
    pattern = re.compile(r"^ccpulse_records_consumed_total (\S+)$", re.M)
    text = ""
    while time.time() < deadline:
        try:
            text = http_get(url + "/metrics")
            match = pattern.search(text)
            if match and float(match.group(1)) == records_total and "ccpulse_windows_end_timestamp_seconds" in text:
                return text
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    raise SetupError(f"ccpulse did not report {records_total} consumed records in time; last scrape:\n{text[:2000]}")


def poll(what, fn, deadline, interval=0.5):
    """Calls fn until it returns a truthy value or the deadline passes; returns the last value."""
    value = None
    while True:
        try:
            value = fn()
        except (ValueError, urllib.error.URLError, ConnectionError):
            value = None
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def check_promtool_metrics(checks, scrape, workdir):
    path = os.path.join(workdir, "scrape.txt")
    with open(path, "w") as f:
        f.write(scrape)
    with open(path) as f:
        result = subprocess.run(["promtool", "check", "metrics"], stdin=f, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, timeout=60)
    if result.returncode == 0 and not result.stdout.strip():
        checks.ok(f"promtool check metrics: {len(scrape.splitlines())} lines, no problems")
    else:
        checks.fail("promtool check metrics", result.stdout.strip() or f"exit {result.returncode}")


def check_golden_values(checks, prom, golden):
    for expr, expected in golden:
        try:
            result = prom.query(expr)
        except ValueError as e:
            checks.fail(expr, str(e))
            continue
        if expected is None:
            if result:
                checks.fail(expr, f"expected no series (the ratio is undefined), got {result}")
            else:
                checks.ok(f"{expr} has no series (undefined)")
            continue
        if len(result) != 1:
            checks.fail(expr, f"expected one series = {expected}, got {result}")
        elif not same(result[0][1], float(expected)):
            checks.fail(expr, f"expected {expected}, got {result[0][1]}")
        else:
            checks.ok(f"{expr} = {expected}")


def scraped_values(scrape, name):
    """{labels text: value} of one metric in the exposition text."""
    values = {}
    for match in re.finditer(rf"^{re.escape(name)}\{{([^}}]*)\}} (\S+)$", scrape, re.M):
        values[match.group(1)] = float(match.group(2))
    return values


def check_recording_rules(checks, prom, scrape, teams, deadline):
    # Required agents per tenant and window, from the scrape, against the recorded sum.
    required = {}
    for labels, value in scraped_values(scrape, "ccpulse_team_required_agents").items():
        tenant = re.search(r'tenant="([^"]*)"', labels).group(1)
        window = re.search(r'window="([^"]*)"', labels).group(1)
        required[(tenant, window)] = required.get((tenant, window), 0) + value
    expr = "tenant_window:ccpulse_team_required_agents:sum"
    result = poll(expr, lambda: prom.query(expr), deadline)
    got = {(m["tenant"], m["window"]): v for m, v in (result or [])}
    if got and all(k in got and same(got[k], v) for k, v in required.items()) and len(got) == len(required):
        checks.ok(f"{expr} = {dict(sorted(got.items()))}")
    else:
        checks.fail(expr, f"expected {required}, got {got}")
    # The counters are constant while Prometheus scrapes the held replay, so the arrivals in
    # the last hour are 0 for each team once the rule has two samples.
    expr = "tenant_team:ccpulse_team_arrivals:increase1h"
    result = poll(expr, lambda: (r := prom.query(expr)) and len(r) == len(teams) and r, deadline)
    if result and sorted(m["team"] for m, _ in result) == sorted(teams) and all(v == 0 for _, v in result):
        checks.ok(f"{expr} = 0 for each of {sorted(teams)}")
    else:
        checks.fail(expr, f"expected 0 for each of {sorted(teams)}, got {result}")
    expr = "tenant:ccpulse_team_arrivals:increase1h"
    result = poll(expr, lambda: prom.query(expr), deadline)
    if result and len(result) == 1 and result[0][1] == 0:
        checks.ok(f"{expr} = 0")
    else:
        checks.fail(expr, f"expected one series = 0, got {result}")


def check_rules_healthy(checks, prom):
    groups = prom.api("rules")["groups"]
    rules = [(g["name"], r) for g in groups for r in g["rules"]]
    loaded = {os.path.basename(g["file"]) for g in groups}
    if loaded != {os.path.basename(f) for f in RULE_FILES}:
        checks.fail("rule files loaded", f"got {sorted(loaded)}")
    bad = [f"{group}/{r['name']}: {r.get('lastError')}" for group, r in rules
           if r.get("health") != "ok" or r.get("lastError")]
    if bad:
        checks.fail("rules evaluate without errors", "; ".join(bad))
    else:
        checks.ok(f"{len(rules)} rules in {len(groups)} groups evaluate without errors")


def check_dashboard_queries(checks, prom):
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    substitutions = {"$tenant": ".*", "$team": ".*", "$window": "15m", "$instance": ".*",
                     "$__rate_interval": "1m"}
    empty, errors, count = [], [], 0
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for key, value in substitutions.items():
                expr = expr.replace(key, value)
            count += 1
            try:
                result = prom.query(expr)
            except ValueError as e:
                errors.append(f"{panel['title']}: {expr}: {e}")
                continue
            # Team panels must show the replayed teams; engine panels may be empty in a
            # replay (no Kafka partitions, no dead letters).
            if "ccpulse_team_" in expr and not result:
                empty.append(f"{panel['title']}: {expr}")
    if errors:
        checks.fail("dashboard queries run", "; ".join(errors))
    else:
        checks.ok(f"all {count} dashboard queries run")
    if empty:
        checks.fail("dashboard team panels have data", "; ".join(empty))
    else:
        checks.ok("every team panel of the dashboard has data")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print(f"prometheus_test: {binary} is not an executable", file=sys.stderr)
        return 2
    records, summary = load_golden()
    golden = expectations(records, summary)
    teams = sorted({team for team, _ in records})
    checks = Checks()
    with tempfile.TemporaryDirectory(prefix="ccpulse-prometheus-test-") as workdir:
        ccpulse = Ccpulse(binary, workdir)
        prom = Prometheus(workdir)
        try:
            url = ccpulse.wait_url(20)
            print(f"run   ccpulse serving {url}")
            scrape = wait_for_input_applied(url, summary["records"], time.time() + 20)
            check_promtool_metrics(checks, scrape, workdir)
            prom.start(urllib.parse.urlparse(url).netloc)
            deadline = time.time() + 60
            up = poll("up", lambda: [v for _, v in prom.query('up{job="ccpulse"}') if v == 1], deadline)
            if not up:
                raise SetupError(f"Prometheus did not scrape ccpulse within 60 s: {prom.query('up')}")
            checks.ok('up{job="ccpulse"} = 1')
            check_golden_values(checks, prom, golden)
            check_recording_rules(checks, prom, scrape, teams, time.time() + 30)
            check_rules_healthy(checks, prom)
            check_dashboard_queries(checks, prom)
            if ccpulse.process.poll() is not None:
                checks.fail("ccpulse still serving (--hold)", f"exited with {ccpulse.process.returncode}")
        except SetupError as e:
            print(f"prometheus_test: {e}", file=sys.stderr)
            log = os.path.join(prom.dir, "prometheus.log")
            if os.path.exists(log):
                with open(log) as f:
                    print("prometheus.log (tail):\n" + "".join(f.readlines()[-20:]), file=sys.stderr)
            return 2
        finally:
            prom.stop()
            ccpulse.stop()
    if checks.failures:
        print(f"prometheus_test: {checks.failures} of {checks.count} checks failed")
        return 1
    print(f"prometheus_test: all {checks.count} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
