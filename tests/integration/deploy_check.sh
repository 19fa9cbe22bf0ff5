#!/usr/bin/env bash
# Checks the deployment assets in deploy/: Prometheus config and rules (promtool check and
# unit tests), Alertmanager config and routing (amtool), ccpulse configs (--check-config),
# Kubernetes manifests and the Grafana dashboard (parsed and inspected), the systemd unit.
# Ends with one real Alertmanager (tests/support/alertmanager.sh) to check the inhibition.
#
#   tests/integration/deploy_check.sh build/release/pipeline/ccpulse
#
# Needs promtool and amtool (Debian: prometheus, prometheus-alertmanager) and python3 with
# PyYAML (python3-yaml). Prints one line per check; exits 1 if any failed.
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH_TO_CCPULSE" >&2
  exit 2
fi
ccpulse="$(cd "$(dirname "$1")" && pwd -P)/$(basename "$1")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
cd "$root" || exit 2

missing=()
[[ -x "$ccpulse" ]] || missing+=("ccpulse binary at $1")
command -v promtool >/dev/null || missing+=("promtool (apt-get install prometheus)")
command -v amtool >/dev/null || missing+=("amtool (apt-get install prometheus-alertmanager)")
command -v python3 >/dev/null || missing+=("python3")
python3 -c 'import yaml' 2>/dev/null || missing+=("PyYAML (apt-get install python3-yaml)")
if ((${#missing[@]})); then
  printf 'deploy_check: missing %s\n' "${missing[@]}" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'tests/support/alertmanager.sh stop "$work/am" >/dev/null 2>&1; rm -rf "$work"' EXIT

failures=0
# check NAME COMMAND...: runs the command, prints ok/FAIL and the output on failure.
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    echo "ok    $name"
  else
    echo "FAIL  $name"
    printf '%s\n' "$out" | sed 's/^/      /'
    failures=$((failures + 1))
  fi
}

# The Kubernetes variant of the scrape config is commented out in prometheus.yml: uncomment
# it into a copy (replacing the static job) so that promtool checks it too. Debian's
# Prometheus is built without Kubernetes service discovery; with that promtool the
# kubernetes_sd_configs block is swapped for a static target and the rest (relabelling) is
# checked.
kubernetes_prometheus_config() {
  mkdir -p "$work/prom-k8s"
  cp -r deploy/prometheus/rules "$work/prom-k8s/"
  python3 - deploy/prometheus/prometheus.yml "$work/prom-k8s" <<'EOF' || return 1
import sys, yaml
lines = open(sys.argv[1]).read().split("\n")
head = lines[: lines.index("scrape_configs:") + 1]
start = next(i for i, l in enumerate(lines) if l.startswith("  # - job_name: ccpulse"))
block = [l.replace("  # ", "  ", 1) for l in lines[start:] if l.startswith("  # ")]
text = "\n".join(head + block) + "\n"
open(sys.argv[2] + "/prometheus.yml", "w").write(text)
config = yaml.safe_load(text)
job = config["scrape_configs"][0]
del job["kubernetes_sd_configs"]
job["static_configs"] = [{"targets": ["10.0.0.1:9650"]}]
open(sys.argv[2] + "/prometheus-static.yml", "w").write(yaml.safe_dump(config, sort_keys=False))
EOF
  local out
  if out="$(promtool check config "$work/prom-k8s/prometheus.yml" 2>&1)"; then
    echo "$out"
    return 0
  fi
  if grep -q 'field kubernetes_sd_configs not found' <<<"$out"; then
    echo "this promtool has no Kubernetes service discovery; checking the job with a static target"
    promtool check config "$work/prom-k8s/prometheus-static.yml"
    return
  fi
  echo "$out"
  return 1
}

# Every alerting rule: severity label, summary/description/runbook_url annotations, a runbook
# section in deploy/README.md, and a unit test in which it fires.
alert_rules_complete() {
  python3 - <<'EOF'
import glob, re, sys, yaml
rules = yaml.safe_load(open("deploy/prometheus/rules/alerts.yml"))
readme = open("deploy/README.md").read()
anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.*)$", readme, re.M)}
fired = set()
for path in glob.glob("deploy/prometheus/tests/*.yml"):
    for group in yaml.safe_load(open(path)).get("tests", []):
        for case in group.get("alert_rule_test") or []:
            if case.get("exp_alerts"):
                fired.add(case["alertname"])
problems = []
names = set()
for group in rules["groups"]:
    for rule in group["rules"]:
        if "alert" not in rule:
            continue
        name = rule["alert"]
        names.add(name)
        if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
            problems.append(f"{name}: severity label must be critical or warning")
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                problems.append(f"{name}: no {key} annotation")
        anchor = ann.get("runbook_url", "").rpartition("#")[2]
        if anchor not in anchors:
            problems.append(f"{name}: runbook_url anchor #{anchor} has no heading in deploy/README.md")
for name in sorted(names - fired):
    problems.append(f"{name}: no promtool test in which it fires")
print(f"{len(names)} alerts, all with a firing test" if not problems else "\n".join(problems))
sys.exit(1 if problems else 0)
EOF
}

# route RECEIVERS LABEL=VALUE...: the alert must reach exactly these receivers, in order.
route() {
  local expected="$1"
  shift
  amtool config routes test --config.file=deploy/alertmanager/alertmanager.yml \
    --verify.receivers="$expected" "$@"
}

configmap_config_valid() {
  python3 -c '
import sys, yaml
docs = [d for d in yaml.safe_load_all(open("deploy/kubernetes/configmap.yaml")) if d]
sys.stdout.write(docs[0]["data"]["ccpulse.yaml"])' >"$work/configmap-ccpulse.yaml" &&
    "$ccpulse" run --config "$work/configmap-ccpulse.yaml" --check-config
}

# --check-config must also reject: an unknown key and a bad duration, naming key and line.
# (The backticks in the patterns are literal: ccpulse quotes keys that way.)
# shellcheck disable=SC2016
check_config_rejects() {
  printf 'kafka:\n  brokers: b:9092\n  topics: [t]\nmetrics:\n  slice: 7x\n' >"$work/bad1.yaml"
  printf 'kafka:\n  brokers: b:9092\n  topics: [t]\nhttp:\n  adress: 0.0.0.0:9650\n' >"$work/bad2.yaml"
  local out
  if out="$("$ccpulse" run --config "$work/bad1.yaml" --check-config 2>&1)"; then return 1; fi
  grep -q 'bad1.yaml:5: `metrics.slice`' <<<"$out" || { echo "$out"; return 1; }
  if out="$("$ccpulse" run --config "$work/bad2.yaml" --check-config 2>&1)"; then return 1; fi
  grep -q 'bad2.yaml:5: `http.adress`: unknown key' <<<"$out" || { echo "$out"; return 1; }
}

kubernetes_manifests() {
  python3 - <<'EOF'
import glob, sys, yaml
kinds = {}
for path in sorted(glob.glob("deploy/kubernetes/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            kinds[doc["kind"]] = doc
problems = []
for kind in ("StatefulSet", "Service", "ConfigMap"):
    if kind not in kinds:
        problems.append(f"no {kind}")
if not problems:
    pod = kinds["StatefulSet"]["spec"]["template"]
    ann = pod["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "9650":
        problems.append("pod template lacks prometheus.io/scrape and prometheus.io/port annotations")
    main = pod["spec"]["containers"][0]
    if main.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problems.append("liveness probe is not /healthz")
    if main.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problems.append("readiness probe is not /readyz")
    if not main.get("resources", {}).get("requests"):
        problems.append("no resource requests")
    if pod["metadata"]["labels"] != kinds["StatefulSet"]["spec"]["selector"]["matchLabels"] | pod["metadata"]["labels"]:
        problems.append("selector does not match the pod labels")
    if not set(kinds["Service"]["spec"]["selector"].items()) <= set(pod["metadata"]["labels"].items()):
        problems.append("Service selector does not match the pod labels")
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["ccpulse.yaml"])
    if not config["http"]["address"].startswith("0.0.0.0:"):
        problems.append("the ConfigMap's http.address is not bound to 0.0.0.0")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    if volumes.get("config", {}).get("configMap", {}).get("name") != kinds["ConfigMap"]["metadata"]["name"]:
        problems.append("the config volume does not mount the ConfigMap")
print("\n".join(problems) or f"kinds: {', '.join(sorted(kinds))}")
sys.exit(1 if problems else 0)
EOF
}

grafana_dashboard() {
  python3 - <<'EOF'
import json, sys
d = json.load(open("deploy/grafana/ccpulse-capacity.json"))
problems = []
variables = {v["name"]: v for v in d["templating"]["list"]}
if variables.get("datasource", {}).get("type") != "datasource":
    problems.append("no datasource variable")
for name in ("tenant", "team"):
    if name not in variables:
        problems.append(f"no {name} variable")
exprs = []
for panel in d["panels"]:
    if panel.get("type") == "row":
        continue
    if panel.get("datasource", {}).get("uid") != "${datasource}":
        problems.append(f"panel {panel['title']!r} does not use the datasource variable")
    for t in panel.get("targets", []):
        exprs.append(t["expr"])
joined = "\n".join(exprs)
for metric in ("ccpulse_team_arrivals_per_minute", "ccpulse_team_aht_seconds", "ccpulse_team_required_agents",
               "ccpulse_team_waiting", "ccpulse_team_oldest_wait_seconds", "ccpulse_team_service_level_ratio",
               "ccpulse_records_consumed_total", "ccpulse_consumer_lag_records",
               "ccpulse_processing_latency_seconds_bucket", "ccpulse_dead_letters_total"):
    if metric not in joined:
        problems.append(f"no panel shows {metric}")
print("\n".join(problems) or f"{len(d['panels'])} panels, {len(exprs)} queries")
sys.exit(1 if problems else 0)
EOF
}

systemd_unit() {
  if ! command -v systemd-analyze >/dev/null; then
    echo "systemd-analyze not installed; skipped"
    return 0
  fi
  # verify needs the ExecStart binaries to exist: point them at the one under test.
  sed "s|/usr/local/bin/ccpulse|$ccpulse|g" deploy/systemd/ccpulse.service >"$work/ccpulse.service"
  local out
  out="$(systemd-analyze verify "$work/ccpulse.service" 2>&1)" || { echo "$out"; return 1; }
  [[ -z "$out" ]] || { echo "$out"; return 1; }
  grep -q '^ExecStartPre=.*--check-config' deploy/systemd/ccpulse.service
}

# A real Alertmanager with the example config: a critical drift alert inhibits the warning of
# the same tenant/team/metric, not the warning of another metric.
alertmanager_inhibition() {
  local url
  url="$(tests/support/alertmanager.sh start "$work/am" deploy/alertmanager/alertmanager.yml)" || return 1
  curl -sf -XPOST -H 'Content-Type: application/json' "$url/api/v2/alerts" -d '[
    {"labels":{"alertname":"TeamMetricDrift","tenant":"acme","team":"care","metric":"escalation_ratio","direction":"up","severity":"critical","manager":"alice.martin"}},
    {"labels":{"alertname":"TeamMetricDrift","tenant":"acme","team":"care","metric":"escalation_ratio","direction":"up","severity":"warning","manager":"alice.martin"}},
    {"labels":{"alertname":"TeamMetricDrift","tenant":"acme","team":"care","metric":"abandon_ratio","direction":"up","severity":"warning","manager":"alice.martin"}}
  ]' || return 1
  python3 - "$url" <<'EOF'
import json, sys, time, urllib.request
url = sys.argv[1]
want = {("escalation_ratio", "critical"): "active", ("escalation_ratio", "warning"): "suppressed",
        ("abandon_ratio", "warning"): "active"}
deadline = time.time() + 15
while True:
    alerts = json.load(urllib.request.urlopen(url + "/api/v2/alerts", timeout=5))
    got = {(a["labels"]["metric"], a["labels"]["severity"]): a["status"]["state"] for a in alerts}
    if got == want:
        print("critical inhibits the warning of the same metric only")
        sys.exit(0)
    if time.time() > deadline:
        print(f"expected {want}, got {got}")
        sys.exit(1)
    time.sleep(0.2)
EOF
}

check "promtool check config deploy/prometheus/prometheus.yml" promtool check config deploy/prometheus/prometheus.yml
check "promtool check config (kubernetes_sd variant)" kubernetes_prometheus_config
check "promtool check rules deploy/prometheus/rules/*.yml" promtool check rules deploy/prometheus/rules/*.yml
check "promtool test rules deploy/prometheus/tests/*.yml" promtool test rules deploy/prometheus/tests/*.yml
check "alerting rules: labels, annotations, runbooks, tests" alert_rules_complete
check "amtool check-config deploy/alertmanager/alertmanager.yml" amtool check-config deploy/alertmanager/alertmanager.yml
check "route: critical drift with a manager" route pagerduty-critical,manager-alice-martin \
  alertname=TeamMetricDrift severity=critical tenant=acme team=care metric=escalation_ratio manager=alice.martin
check "route: warning drift with a manager" route manager-bob-okafor \
  alertname=TeamMetricDrift severity=warning tenant=acme team=care metric=escalation_ratio manager=bob.okafor
check "route: warning without a manager" route warnings-digest \
  alertname=TeamServiceLevelBudgetBurn severity=warning tenant=acme team=care metric=service_level
check "route: critical without a manager" route pagerduty-critical,duty-desk \
  alertname=TeamServiceLevelBudgetBurn severity=critical tenant=acme team=care metric=service_level
check "route: engine alert" route ccpulse-operators alertname=CcpulseDeadLetters severity=warning job=ccpulse
check "route: no severity" route duty-desk alertname=Other
check "ccpulse run --check-config deploy/ccpulse.yaml" "$ccpulse" run --config deploy/ccpulse.yaml --check-config
check "ccpulse run --check-config (ConfigMap's config)" configmap_config_valid
check "ccpulse run --check-config rejects bad files" check_config_rejects
check "kubernetes manifests parse and fit together" kubernetes_manifests
if command -v kubectl >/dev/null; then
  check "kubectl kustomize deploy/kubernetes" kubectl kustomize deploy/kubernetes
fi
check "grafana dashboard parses and covers the metrics" grafana_dashboard
check "systemd-analyze verify deploy/systemd/ccpulse.service" systemd_unit
check "alertmanager inhibition (real server)" alertmanager_inhibition

if ((failures)); then
  echo "deploy_check: $failures check(s) failed"
  exit 1
fi
echo "deploy_check: all checks passed"
