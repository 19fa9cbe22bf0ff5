#!/usr/bin/env python3
"""Integration tests of `ccpulse run` against a real Apache Kafka broker (KRaft, started by
tests/support/kafka.sh on 127.0.0.1 with free ports, always stopped).

    tests/integration/kafka_test.py BUILD/pipeline/ccpulse [test-name ...]

Tests:
  replay_equality  simulator -> topic (4 partitions) -> run gives exactly the records that
                   `ccpulse replay` gives for the same events, at every boundary run emitted.
  dead_letters     malformed and late records land in the dead-letter topic with the original
                   key, value and headers plus ccpulse-error/-source-topic/-partition/-offset,
                   while the valid records around them are applied.
  rebalance        a second instance joining the group mid-stream: both keep running, every
                   record is consumed exactly once between them, committed lag ends at 0.
  broker_restart   the broker is killed (SIGKILL) and restarted mid-stream: the consumer
                   recovers and its output still equals the replay (no record skipped).
  rebalance_repartitioned
                   `rebalance` with event-id-keyed input and `kafka.repartition`: both the
                   stages' and the engines' groups rebalance; the internal topic holds each
                   input record exactly once (read_committed) and the engines consume each once.
  checkpoint_fencing
                   pipeline/kafka/fencing_test.cc on the broker: a standby claiming the shared
                   checkpoint name fences the instance it replaces, whose writes then fail and
                   are never read; the newest checkpoint is read back past other names' and
                   aborted writes.
Only python3 stdlib, kcat and the Kafka jars (for the consumer-group tool) are used.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KAFKA_SH = os.path.join(ROOT, "tests", "support", "kafka.sh")


def log(msg):
    print(f"[kafka_test] {msg}", flush=True)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_for(pred, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what}")


def metric_value(text, name, labels=""):
    """The sample `name` + `labels` in a Prometheus text exposition; without labels, the sum
    over all of the metric's series; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + labels + " ") or (not labels and line.startswith(name + "{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Broker:
    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "kafka")
        os.makedirs(self.dir, exist_ok=True)
        self.bootstrap = None

    def start(self):
        out = subprocess.run([KAFKA_SH, "start", self.dir], check=True, capture_output=True, text=True, timeout=240)
        self.bootstrap = out.stdout.strip().splitlines()[-1]
        return self.bootstrap

    def kill(self):
        subprocess.run([KAFKA_SH, "kill", self.dir], check=True, timeout=60)

    def restart(self):
        subprocess.run([KAFKA_SH, "restart", self.dir], check=True, capture_output=True, timeout=240)

    def stop(self):
        subprocess.run([KAFKA_SH, "stop", self.dir], timeout=60)

    def libs(self):
        cache = os.environ.get("CCPULSE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "ccpulse"))
        return os.environ.get("CCPULSE_KAFKA_LIBS", os.path.join(cache, "kafka-3.9.1", "libs"))


class Ccpulse:
    """One `ccpulse run` process with its config, stderr log and HTTP URL."""

    def __init__(self, binary, workdir, name, brokers, topic, group, output=None, dead_letter_topic=None,
                 repartition=None):
        self.name = name
        self.config = os.path.join(workdir, f"{name}.yaml")
        self.err_path = os.path.join(workdir, f"{name}.err")
        lines = [
            "kafka:",
            f"  brokers: \"{brokers}\"",
            f"  group: {group}",
            f"  topics: [{topic}]",
        ]
        if dead_letter_topic:
            lines.append(f"  dead_letter_topic: {dead_letter_topic}")
        if repartition:
            lines += ["  repartition:", f"    topic: {repartition}"]
        # Partitions idle out after 5 s (30 s by default), so the windows catch up quickly.
        lines += ["metrics:", "  idle_partition: 5s", "http:", "  address: 127.0.0.1:0"]
        if output:
            lines += ["output:", f"  path: {output}", "  every: 1m"]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([binary, "run", "--config", self.config], stdout=subprocess.DEVNULL, stderr=self.err)
        self.url = wait_for(self._url, 30, f"{name} to listen")

    def _url(self):
        check(self.proc.poll() is None, f"{self.name} exited early: {open(self.err_path).read()}")
        m = re.search(r"serving (http://[0-9.]+:\d+)", open(self.err_path).read())
        return m.group(1) if m else None

    def metric(self, name, labels=""):
        return metric_value(urllib.request.urlopen(f"{self.url}/metrics", timeout=5).read().decode(), name, labels)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise Failure(f"{self.name} did not stop within 30 s of SIGTERM")
        else:
            rc = self.proc.returncode
        self.err.close()
        return rc

    def log_text(self):
        return open(self.err_path).read()


def simulate(binary, path, seed, teams, duration, start="2026-03-02T08:00:00Z"):
    with open(path, "w") as f:
        subprocess.run([binary, "simulate", "--seed", str(seed), "--teams", str(teams), "--duration", duration,
                        "--start", start], check=True, stdout=f, timeout=120)
    with open(path) as f:
        return [json.loads(line) for line in f]


def produce(brokers, topic, records):
    """Produces (key, value) records with kcat, which waits for the acknowledgements."""
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        for key, value in records:
            f.write(f"{key}\t{value}\n")
        path = f.name
    subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic, "-K", "\t", "-l", path], check=True, timeout=120)
    os.unlink(path)


def create_topic(broker, topic, partitions):
    subprocess.run(["java", "-cp", os.path.join(broker.libs(), "*"), "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                    broker.bootstrap, "--create", "--if-not-exists", "--topic", topic, "--partitions", str(partitions),
                    "--replication-factor", "1"], check=True, capture_output=True, timeout=120)


def group_lag(broker, group):
    out = subprocess.run(["java", "-cp", os.path.join(broker.libs(), "*"), "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                          "--bootstrap-server", broker.bootstrap, "--describe", "--group", group],
                         capture_output=True, text=True, timeout=120).stdout
    lags = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] == group:
            lags[f"{parts[1]}[{parts[2]}]"] = (parts[3], parts[4], parts[5])  # current, end, lag
    return lags


def key_of(event):
    return event.get("customer_id") or event["interaction_id"]


def replay_records(binary, events_path):
    out = subprocess.run([binary, "replay", "--quiet", events_path], check=True, capture_output=True, text=True,
                         timeout=300).stdout
    return set(line for line in out.splitlines() if '"final"' not in line and '"summary"' not in line)


def compare_with_replay(run_output, replay_lines, what):
    run_lines = [line for line in open(run_output).read().splitlines() if line]
    check(run_lines, f"{what}: run wrote no window records")
    missing = [line for line in run_lines if line not in replay_lines]
    times = sorted({json.loads(line)["time"] for line in run_lines})
    if missing:
        raise Failure(f"{what}: {len(missing)} of {len(run_lines)} run records differ from replay, e.g. {missing[0][:400]}")
    log(f"{what}: {len(run_lines)} records at {len(times)} boundaries ({times[0]} .. {times[-1]}) equal the replay")


# ---------------------------------------------------------------------------------------------


def test_replay_equality(binary, broker, work):
    events_path = os.path.join(work, "eq.jsonl")
    events = simulate(binary, events_path, seed=11, teams=8, duration="90m")
    topic = "eq"
    create_topic(broker, topic, 4)
    produce(broker.bootstrap, topic, [(key_of(e), json.dumps(e, separators=(",", ":"))) for e in events])
    out = os.path.join(work, "eq-run.jsonl")
    c = Ccpulse(binary, work, "eq", broker.bootstrap, topic, "g-eq", output=out)
    try:
        wait_for(lambda: c.metric("ccpulse_records_consumed_total") >= len(events), 90, "all records consumed")
        # Partitions idle out (5 s); then the watermark follows the newest partition.
        time.sleep(10)
    finally:
        rc = c.stop()
    check(rc == 0, f"run exited {rc}: {c.log_text()}")
    check("0 late" in c.log_text(), f"unexpected late records: {c.log_text()}")
    compare_with_replay(out, replay_records(binary, events_path), "replay_equality")
    lag = group_lag(broker, "g-eq")
    check(lag and all(v[2] == "0" for v in lag.values()), f"committed lag not 0: {lag}")
    log(f"replay_equality: committed offsets at the end of all {len(lag)} partitions")


def test_dead_letters(binary, broker, work):
    topic, dlq = "dl-in", "dl-out"
    create_topic(broker, topic, 1)
    t = "2026-03-02T10:{:02d}:00Z"
    good = [{"event_id": f"g{i}", "type": "queued", "time": t.format(i), "interaction_id": f"i{i}", "team": "ops"}
            for i in range(0, 30, 5)]
    records = [("k-good", json.dumps(e)) for e in good[:3]]
    records += [("k-bad-json", "{not json"),
                ("k-missing", json.dumps({"event_id": "m", "type": "queued", "time": t.format(16), "interaction_id": "x"})),
                ("k-late", json.dumps({"event_id": "late", "type": "queued", "time": "2026-03-02T09:00:00Z",
                                        "interaction_id": "old", "team": "ops"}))]
    records += [("k-good", json.dumps(e)) for e in good[3:]]
    produce(broker.bootstrap, topic, records[:3])
    produce(broker.bootstrap, topic, records[3:6])
    # A record with headers of its own (kcat applies -H to every message of a run).
    subprocess.run(["kcat", "-P", "-b", broker.bootstrap, "-t", topic, "-k", "k-hdr", "-H", "trace-id=abc123",
                    "-H", "origin=ivr"], input="\x00bad utf8 \xff", text=True, check=True, timeout=60,
                   encoding="latin-1")
    produce(broker.bootstrap, topic, records[6:])
    c = Ccpulse(binary, work, "dl", broker.bootstrap, topic, "g-dl", dead_letter_topic=dlq)
    try:
        wait_for(lambda: c.metric("ccpulse_records_consumed_total") >= 10, 60, "10 records consumed")
        wait_for(lambda: c.metric("ccpulse_dead_letters_delivered_total") >= 4, 60, "4 dead letters delivered")
        applied = c.metric("ccpulse_events_applied_total")
    finally:
        rc = c.stop()
    check(rc == 0, f"run exited {rc}")
    check(applied == len(good), f"expected the {len(good)} valid records applied, got {applied}")
    out = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", dlq, "-e", "-q", "-f", "%k|%h|%s\\n"],
                         capture_output=True, timeout=60).stdout.decode("utf-8", "replace")
    letters = [line for line in out.splitlines() if line]
    check(len(letters) == 4, f"expected 4 dead letters, got {len(letters)}:\n{out}")
    by_key = {line.split("|", 1)[0]: line for line in letters}
    expectations = {"k-bad-json": "ccpulse-error=truncated", "k-missing": "ccpulse-error=missing_field",
                    "k-late": "ccpulse-error=late", "k-hdr": "ccpulse-error=invalid_utf8"}
    for key, error in expectations.items():
        check(key in by_key, f"no dead letter for {key}:\n{out}")
        line = by_key[key]
        check(error in line, f"{key}: expected {error} in {line}")
        check(f"ccpulse-source-topic={topic}" in line and "ccpulse-source-partition=0" in line
              and "ccpulse-source-offset=" in line, f"{key}: source headers missing: {line}")
    check("trace-id=abc123" in by_key["k-hdr"] and "origin=ivr" in by_key["k-hdr"],
          f"original headers not kept: {by_key['k-hdr']}")
    check(by_key["k-bad-json"].endswith("|{not json"), f"original value not kept: {by_key['k-bad-json']}")
    offsets = sorted(int(re.search(r"ccpulse-source-offset=(\d+)", l).group(1)) for l in letters)
    check(offsets == [3, 4, 5, 6], f"source offsets {offsets}, expected [3, 4, 5, 6]")
    log("dead_letters: 4 dead letters with reasons, source headers and original key/value/headers; "
        f"{int(applied)} valid records applied around them")


def test_rebalance(binary, broker, work, repartition=False):
    """A second instance joins mid-stream. With `repartition`, the input is keyed by event id and
    both the stages' and the engines' groups rebalance: the internal topic then holds each input
    record exactly once (records held when their partition is revoked are dropped and sent by
    the new owner)."""
    name = "rbr" if repartition else "rb"
    topic, group = name, f"g-{name}"
    internal = f"{name}-by-customer" if repartition else None
    create_topic(broker, topic, 4)
    events_path = os.path.join(work, f"{name}.jsonl")
    events = simulate(binary, events_path, seed=22 if repartition else 21, teams=10, duration="2h")
    key = (lambda e: e["event_id"]) if repartition else key_of
    lines = [(key(e), json.dumps(e, separators=(",", ":"))) for e in events]
    half = len(lines) // 2
    produce(broker.bootstrap, topic, lines[:half])
    a = Ccpulse(binary, work, f"{name}-a", broker.bootstrap, topic, group, repartition=internal)
    b = None
    try:
        wait_for(lambda: a.metric("ccpulse_records_consumed_total") >= half, 60, "instance A to consume the first half")
        b = Ccpulse(binary, work, f"{name}-b", broker.bootstrap, topic, group, repartition=internal)
        time.sleep(3)  # let the cooperative rebalance give B its partitions
        produce(broker.bootstrap, topic, lines[half:])
        wait_for(lambda: a.metric("ccpulse_records_consumed_total") + b.metric("ccpulse_records_consumed_total")
                 >= len(lines), 90, "both instances to consume everything")
        time.sleep(2)
        consumed_a = a.metric("ccpulse_records_consumed_total")
        consumed_b = b.metric("ccpulse_records_consumed_total")
        forwarded_b = b.metric("ccpulse_repartitioned_records_total", '{result="forwarded"}') if repartition else 0
        # At rest the engines read lag 0, also on the internal topic, whose partitions end with a
        # transaction marker after the last record.
        def lag_series():
            return [line for c in (a, b) for line in
                    urllib.request.urlopen(f"{c.url}/metrics", timeout=5).read().decode().splitlines()
                    if line.startswith("ccpulse_consumer_lag_records{")]
        wait_for(lambda: len(lag_series()) == 4 and all(line.endswith(" 0") for line in lag_series()), 15,
                 "the consumer lag of the 4 partitions to read 0 at rest")
    finally:
        rc_b = b.stop() if b else 0
        rc_a = a.stop()
    check(rc_a == 0 and rc_b == 0, f"exit codes {rc_a}, {rc_b}")
    check(consumed_b > 0, "instance B got no partitions (no rebalance)")
    check(consumed_a + consumed_b == len(lines),
          f"records consumed {consumed_a:.0f} + {consumed_b:.0f} != {len(lines)} produced")
    # Committed lag 0 where ccpulse commits: the input, by the engines or, with repartition, by
    # the stages, and the internal topic by the engines (past its transaction markers).
    for committer in [group] + ([f"{group}-repartition"] if repartition else []):
        lag = group_lag(broker, committer)
        check(len(lag) == 4 and all(v[2] == "0" for v in lag.values()), f"{committer}: committed lag not 0: {lag}")
    if repartition:
        check(forwarded_b > 0, "B's stage forwarded nothing (no rebalance of the stages' group)")
        # What a read_committed reader of the internal topic sees: each input record once.
        out = subprocess.run(["kcat", "-C", "-b", broker.bootstrap, "-t", internal, "-e", "-q", "-X",
                              "isolation.level=read_committed", "-f", "%h\n"],
                             capture_output=True, text=True, timeout=120).stdout
        origins = [h.split("ccpulse-origin=", 1)[1].split(",", 1)[0] for h in out.splitlines() if "ccpulse-origin=" in h]
        check(len(origins) == len(lines) and len(set(origins)) == len(lines),
              f"internal topic: {len(origins)} records, {len(set(origins))} distinct origins, {len(lines)} produced")
    log(f"{name}: A consumed {consumed_a:.0f}, B {consumed_b:.0f} after joining, total {len(lines)}; lag 0"
        + (f"; B's stage forwarded {forwarded_b:.0f}, the internal topic holds each record once" if repartition else ""))


def test_broker_restart(binary, broker, work):
    topic = "br"
    create_topic(broker, topic, 2)
    events_path = os.path.join(work, "br.jsonl")
    events = simulate(binary, events_path, seed=31, teams=6, duration="90m")
    lines = [(key_of(e), json.dumps(e, separators=(",", ":"))) for e in events]
    half = len(lines) // 2
    produce(broker.bootstrap, topic, lines[:half])
    out = os.path.join(work, "br-run.jsonl")
    c = Ccpulse(binary, work, "br", broker.bootstrap, topic, "g-br", output=out)
    try:
        wait_for(lambda: c.metric("ccpulse_records_consumed_total") >= half, 60, "the first half")
        log("broker_restart: killing the broker (SIGKILL)")
        broker.kill()
        time.sleep(3)
        check(c.proc.poll() is None, "ccpulse exited when the broker died")
        broker.restart()
        log("broker_restart: broker back")
        produce(broker.bootstrap, topic, lines[half:])
        wait_for(lambda: c.metric("ccpulse_records_consumed_total") >= len(lines), 120, "the second half")
        time.sleep(10)  # partitions idle out, windows catch up
    finally:
        rc = c.stop()
    check(rc == 0, f"run exited {rc}")
    compare_with_replay(out, replay_records(binary, events_path), "broker_restart")


def test_checkpoint_fencing(binary, broker, work):
    """pipeline/kafka/fencing_test.cc (built next to ccpulse) on this broker: claiming a
    checkpoint name fences its previous writer (the mock cluster cannot show it)."""
    test = os.path.join(os.path.dirname(os.path.abspath(binary)), "kafka_fencing_test")
    check(os.path.exists(test), f"{test} is not built")
    result = subprocess.run([test], env=dict(os.environ, CCPULSE_TEST_BROKERS=broker.bootstrap),
                            capture_output=True, text=True, timeout=180)
    check(result.returncode == 0, f"kafka_fencing_test exited {result.returncode}:\n{result.stdout[-3000:]}")
    check("[  PASSED  ] 3 tests." in result.stdout, f"kafka_fencing_test did not run its 3 tests:\n{result.stdout[-2000:]}")


TESTS = {
    "replay_equality": test_replay_equality,
    "dead_letters": test_dead_letters,
    "rebalance": test_rebalance,
    "broker_restart": test_broker_restart,
    "rebalance_repartitioned": lambda b, k, w: test_rebalance(b, k, w, repartition=True),
    "checkpoint_fencing": test_checkpoint_fencing,
}


def run_tests(tests, prefix):
    """Runs `tests` (name -> fn(binary, broker, work)) named on the command line (default: all)
    against one broker, reporting every failure; exits 1 if any failed."""
    binary = os.path.abspath(sys.argv[1])
    names = sys.argv[2:] or list(tests)
    work = tempfile.mkdtemp(prefix=prefix)
    broker = Broker(work)
    failures = []
    started = time.time()
    try:
        log(f"starting Kafka in {broker.dir}")
        log(f"broker at {broker.start()} ({time.time() - started:.1f} s)")
        for name in names:
            t0 = time.time()
            try:
                tests[name](binary, broker, work)
                log(f"PASS {name} ({time.time() - t0:.1f} s)")
            except Exception as e:  # noqa: BLE001 - report every failure, keep going
                failures.append(name)
                log(f"FAIL {name}: {e}")
    finally:
        broker.stop()
    log(f"{len(names) - len(failures)} passed, {len(failures)} failed in {time.time() - started:.0f} s; logs in {work}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    run_tests(TESTS, "ccpulse-kafka-")
