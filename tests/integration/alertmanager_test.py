#!/usr/bin/env python3
"""Drift alerts from ccpulse through a real Alertmanager to per-manager webhooks.

    tests/integration/alertmanager_test.py BUILD/pipeline/ccpulse

A stream is generated where team "billing" (rostered, manager alice, seeded baseline 5 %)
and team "sales" (not in the roster) start escalating a third of their contacts, then return
to normal. `ccpulse replay --send-alerts` paces it (--speed) so firing and resolution happen
seconds apart, and delivers to a real Alertmanager (tests/support/alertmanager.sh) whose
config routes by the `manager` label: alice's alerts to /manager/alice, the rest to
/default. A fake PagerDuty endpoint (Events v2) answers 500 first, then 202, to check the
retry. Asserts: alice receives billing's firing alert with the roster's labels and
evidence, then its resolution; the unrostered team goes to the default route without a
manager; PagerDuty got a retried trigger and a resolve with the same dedup key.
Python 3 with python3-jsonschema (alert records against schemas/alert.v1.schema.json).
"""
import http.server
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AM_SH = os.path.join(ROOT, "tests", "support", "alertmanager.sh")


def log(msg):
    print(f"[alertmanager_test] {msg}", flush=True)


class Receiver(http.server.ThreadingHTTPServer):
    """Records every POST: path -> [json bodies]. PagerDuty path fails once with 500."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.posts = {}
        self.lock = threading.Lock()
        self.pd_failed_once = False


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        server = self.server
        status = 200
        with server.lock:
            if self.path == "/pagerduty" and not server.pd_failed_once:
                server.pd_failed_once = True
                status = 500
            server.posts.setdefault(self.path, []).append({"status": status, "body": json.loads(body),
                                                           "at": time.time()})
        self.send_response(status if self.path != "/pagerduty" or status != 200 else 202)
        self.end_headers()

    def log_message(self, *args):
        pass


def events(path):
    """billing: 240 normal contacts at 5 %, 160 at 35 %, 1300 normal; sales likewise without a
    roster seed (it needs 200 contacts of its own before it arms)."""
    rng = random.Random(7)
    t0 = 1772445600  # 2026-03-02T10:00:00Z
    lines = []
    n = 0
    for team in ("billing", "sales"):
        t = t0
        for phase, count, p in (("normal", 240, 0.05), ("drift", 160, 0.35), ("back", 1300, 0.05)):
            for _ in range(count):
                n += 1
                iid = f"{team}-{n}"
                outcome = "escalated" if rng.random() < p else "resolved"
                for dt, kind in ((0, "queued"), (5, "answered"), (120, outcome)):
                    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t + dt))
                    lines.append((t + dt, json.dumps({"event_id": f"{iid}-{kind}", "type": kind, "time": ts,
                                                      "interaction_id": iid, "team": team})))
                t += 20
    lines.sort(key=lambda x: x[0])
    with open(path, "w") as f:
        for _, line in lines:
            f.write(line + "\n")


def main():
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="ccpulse-am-")
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}"
    am_config = os.path.join(work, "alertmanager.yml")
    with open(am_config, "w") as f:
        f.write(f"""route:
  receiver: default
  group_by: [alertname, tenant, team, metric]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['manager="alice"']
      receiver: alice
receivers:
  - name: default
    webhook_configs: [{{url: "{hook}/default", send_resolved: true}}]
  - name: alice
    webhook_configs: [{{url: "{hook}/manager/alice", send_resolved: true}}]
""")
    am_dir = os.path.join(work, "am")
    am_url = subprocess.run([AM_SH, "start", am_dir, am_config], check=True, capture_output=True, text=True,
                            timeout=60).stdout.strip().splitlines()[-1]
    log(f"alertmanager at {am_url}, webhooks at {hook}")
    config = os.path.join(work, "ccpulse.yaml")
    with open(config, "w") as f:
        f.write(f"""drift:
  min_history: 0s   # the stream is a few hours long; no week of history to wait for
alerting:
  alertmanager_url: {am_url}
  pagerduty_url: {hook}/pagerduty
  pagerduty_routing_key: test-routing-key
  log: false
  resend: 1s
  resolved_resend: 10s
teams:
  - team: billing
    name: Billing
    manager: alice
    site: leeds
    labels: {{pager: billing-oncall}}
    baseline: {{escalation_ratio: 0.05}}
""")
    stream = os.path.join(work, "stream.jsonl")
    events(stream)
    proc = None
    failures = []

    def check(cond, msg):
        (log(f"ok: {msg}") if cond else failures.append(msg) or log(f"FAIL: {msg}"))

    try:
        # 1800x: the drift phase takes ~2 s of wall time, the recovery ~15 s.
        out_path, err_path = os.path.join(work, "replay.out"), os.path.join(work, "replay.err")
        started = time.time()
        proc = subprocess.Popen([binary, "replay", "--quiet", "--no-detectors", "--every", "1h", "--config", config,
                                 "--send-alerts", "--speed", "1800", "--http", "127.0.0.1:0", "--hold", stream],
                                stdout=open(out_path, "w"), stderr=open(err_path, "w"))

        def posts(path):
            with receiver.lock:
                return list(receiver.posts.get(path, []))

        def alerts_for(path, status, team):
            found = []
            for p in posts(path):
                for a in p["body"].get("alerts", []):
                    if a["status"] == status and a["labels"].get("team") == team:
                        found.append(a)
            return found

        deadline = time.time() + 90
        while time.time() < deadline:
            pd_actions = [p["body"].get("event_action") for p in posts("/pagerduty") if p["status"] != 500]
            if alerts_for("/manager/alice", "firing", "billing") and alerts_for("/manager/alice", "resolved", "billing") \
                    and alerts_for("/default", "firing", "sales") and pd_actions.count("resolve") >= 2 \
                    and pd_actions.count("trigger") >= 2:
                break
            time.sleep(0.5)
        firing = alerts_for("/manager/alice", "firing", "billing")
        check(bool(firing), "alice's webhook received billing's firing alert")
        if firing:
            a = firing[0]
            labels, notes = a["labels"], a["annotations"]
            check(labels.get("alertname") == "TeamMetricDrift", "alertname TeamMetricDrift")
            check(labels.get("metric") == "escalation_ratio" and labels.get("direction") == "up",
                  f"metric/direction labels: {labels}")
            check(labels.get("manager") == "alice" and labels.get("pager") == "billing-oncall"
                  and labels.get("site") == "leeds", "roster labels: manager, routing label, site")
            check(labels.get("severity") in ("warning", "critical"), "severity label")
            check("Billing" in notes.get("summary", "") and "%" in notes.get("observed", ""),
                  f"summary names the team and the evidence: {notes.get('summary')}")
            check(re.match(r"^2026-03-02T1", notes.get("onset", "")) is not None, f"onset in event time: {notes.get('onset')}")
            check(len(notes.get("dedup_key", "")) == 16, "dedup key annotation")
        check(bool(alerts_for("/manager/alice", "resolved", "billing")), "alice received billing's resolution")
        sales = alerts_for("/default", "firing", "sales")
        check(bool(sales), "the unrostered team's alert took the default route")
        check(all("manager" not in a["labels"] for a in sales), "no manager label without a roster entry")
        check(not alerts_for("/manager/alice", "firing", "sales"), "alice did not get the other team's alert")
        pd = posts("/pagerduty")
        actions = [(round(p["at"] - started, 1), p["status"], p["body"].get("event_action"), p["body"].get("dedup_key"))
                   for p in pd]  # (seconds since start, HTTP status, action, key)
        log(f"pagerduty posts: {actions}")
        failed_first = pd[0] if pd and pd[0]["status"] == 500 else None
        check(failed_first is not None and any(p["status"] != 500 and p["body"] == failed_first["body"] for p in pd[1:]),
              "the PagerDuty trigger refused with a 500 was retried and accepted")
        check(any(p["body"].get("event_action") == "resolve" for p in pd), "PagerDuty resolve sent")
        for key in {p["body"]["dedup_key"] for p in pd}:
            sequence = [p["body"]["event_action"] for p in pd if p["body"]["dedup_key"] == key and p["status"] != 500]
            check(sequence == ["trigger", "resolve"], f"PagerDuty {key}: accepted trigger then resolve, got {sequence}")
        check(all(p["body"].get("routing_key") == "test-routing-key" for p in pd), "routing key")
        check(all(p["body"]["payload"]["severity"] == "critical" for p in pd if p["body"]["event_action"] == "trigger"),
              "only critical alerts page")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out, err = open(out_path).read(), open(err_path).read()
            alerts = [json.loads(l)["alert"] for l in out.splitlines() if l.startswith('{"alert"')]
            log(f"replay wrote {len(alerts)} alert changes: " +
                ", ".join(f"{a['team']}/{a['metric']}/{a['severity']}/{a['status']}" for a in alerts))
            # The records ccpulse writes to replay output and the Kafka alerts topic.
            with open(os.path.join(ROOT, "schemas", "alert.v1.schema.json")) as f:
                validator = jsonschema.Draft202012Validator(json.load(f))
            problems = [f"{a.get('key')}: {e.message}" for a in alerts for e in validator.iter_errors(a)]
            check(not problems, f"alert records match schemas/alert.v1.schema.json {problems[:3]}")
            check({"firing", "resolved"} <= {a["status"] for a in alerts}, "replay output has firing and resolved alerts")
            if proc.returncode not in (0, -15):
                failures.append(f"replay exited {proc.returncode}: {err[-2000:]}")
        subprocess.run([AM_SH, "stop", am_dir], timeout=60)
        receiver.shutdown()
    log(f"{'FAILED: ' + '; '.join(failures) if failures else 'all checks passed'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
