#!/usr/bin/env python3
"""Crash tests of checkpoints (DESIGN §6) on a real Apache Kafka broker (tests/support/kafka.sh,
127.0.0.1, free ports, always stopped).

    tests/integration/crash_test.py BUILD/pipeline/ccpulse [test-name ...]

Tests:
  single_instance  one `ccpulse run` with checkpoints every second (local directory), killed with SIGKILL at 10
                   seeded random points while a simulated stream is produced, and restarted each
                   time; the window records and alerts of all its lives together equal an
                   uninterrupted `ccpulse replay` of the same events exactly: at every boundary
                   the same records, every alert change once (no loss, no double counting).
  topic_backend    the same with checkpoints in a compacted Kafka topic and no local state, 4 kills.
  two_instances    two instances in one consumer group (static membership), one of them killed
  three_instances  and restarted at 5 seeded points: every count, numerator and denominator of
                   every team window, summed over the instances, equals the replay (events are
                   keyed by customer, so each interaction and each customer's repeat contacts
                   stay on one instance; DESIGN §6 and the README's deviations explain why
                   drift and quantiles are per instance).
  standby          an active instance and a standby sharing a checkpoint name on a one-partition topic: the
                   active one killed at 4 seeded points, paused past its session at a fifth and
                   stopped (SIGTERM) at a sixth; the standby takes over from its checkpoint each time
                   (the woken one is fenced or stands by; the stopped one left the group, so the
                   take-over is within the session timeout); all lives together equal the replay
                   exactly, per whole team.
  team_stage       the team-keyed scale-out: two instances of the customer tier (kafka.team_stage role
                   customers) send their slices to a team topic that an instance of the team tier
                   reads; a customer instance is killed at 4 seeded points and the team instance
                   at 2, then a second team instance joins mid-stream and takes a team partition,
                   and a third customer instance joins and takes input partitions, each restoring
                   the state of what it took from the partition's checkpoints; the team tier's
                   window records and alerts (both team instances together) equal the replay
                   exactly, per whole team (quantiles, backlog and drift included), though no
                   instance saw every event of a team.
  two_instances_repartitioned
                   the same with the input keyed by event id (a customer's contacts spread over
                   every partition) and `kafka.repartition`: each instance's stage writes the
                   input to an internal customer-keyed topic in Kafka transactions, and the sums
                   still equal the replay exactly across the kills.
Only python3 stdlib, kcat and the Kafka jars are used.
"""
import datetime
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_test as kt  # noqa: E402  (shares the broker, ccpulse and produce helpers)

check, log, wait_for, Failure = kt.check, kt.log, kt.wait_for, kt.Failure


REPARTITION_PARTITIONS = 4  # of the internal topic, with a repartition stage


def config_text(brokers, topic, group, instance, output, checkpoint_dir, checkpoint_topic=None, repartition=None,
                checkpoint_name=None, session_timeout_ms=45000, team_stage=None):
    return "\n".join([
        "kafka:",
        f"  brokers: \"{brokers}\"",
        f"  group: {group}",
        f"  topics: [{topic}]",
        "  consumer:",
    ] + ([] if checkpoint_name else [
        f"    group.instance.id: {instance}",  # static membership: a restart keeps its partitions
    ]) + [  # (standbys are dynamic members: a stopped active instance leaves the group)
        f"    session.timeout.ms: \"{session_timeout_ms}\"",
    ] + ([
        "  repartition:",
        f"    topic: {repartition}",
        f"    partitions: {REPARTITION_PARTITIONS}",
    ] if repartition else []) + (["  team_stage:"] + [f"    {line}" for line in team_stage] if team_stage else []) + [
        "metrics:",
        # Longer than any pause of the test's producer (a partition that idles out stops
        # holding the watermark back, and its next events could be late).
        "  idle_partition: 20s",
        "drift:",  # detectors arm within the test stream, so alerts fire and resolve
        "  min_history: 1h",
        "  min_baseline: 50",
        "  warning_arl: 300",
        "  critical_arl: 3000",
        "alerting:",
        "  log: false",
        "http:",
        "  address: 127.0.0.1:0",
        "output:",
        f"  path: \"{output}\"",
        "  every: 1m",
        "checkpoint:",
        f"  kafka_topic: {checkpoint_topic}" if checkpoint_topic else f"  dir: {checkpoint_dir}",
    ] + ([f"  name: {checkpoint_name}", "  standby: true"] if checkpoint_name else []) + [
        "  interval: 1s",
    ]) + "\n"


class Instance:
    """One instance (its group.instance.id and checkpoint directory) over several process lives."""

    def __init__(self, binary, work, name, brokers, topic, group, checkpoint_topic=None, repartition=None,
                 **config):
        self.binary, self.work, self.name = binary, work, name
        self.brokers, self.topic, self.group = brokers, topic, group
        self.checkpoint_topic, self.repartition = checkpoint_topic, repartition
        self.config = config  # more config_text arguments
        self.checkpoints = os.path.join(work, f"{name}-checkpoints")
        self.outputs = []
        self.lives = 0
        self.proc = None
        self.url = None

    def start(self):
        self.lives += 1
        out = os.path.join(self.work, f"{self.name}-life{self.lives}.jsonl")
        self.outputs.append(out)
        cfg = os.path.join(self.work, f"{self.name}-life{self.lives}.yaml")
        with open(cfg, "w") as f:
            f.write(config_text(self.brokers, self.topic, self.group, self.name, out, self.checkpoints,
                                self.checkpoint_topic, self.repartition, **self.config))
        self.err_path = os.path.join(self.work, f"{self.name}-life{self.lives}.err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([self.binary, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=self.err)
        self.url = wait_for(self._url, 30, f"{self.name} life {self.lives} to listen")

    def _url(self):
        text = open(self.err_path).read()
        check(self.proc.poll() is None, f"{self.name} exited early: {text}")
        for line in text.splitlines():
            if "serving http://" in line:
                return line.split("serving ", 1)[1].split()[0]
        return None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.err.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # if a failed test left it paused
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(timeout=60)
        else:
            rc = self.proc.returncode
        self.err.close()
        check(rc == 0, f"{self.name} exited {rc}: {open(self.err_path).read()[-2000:]}")

    def metrics_text(self):
        return urllib.request.urlopen(f"{self.url}/metrics", timeout=5).read().decode()

    def owned_partitions(self):
        try:
            text = self.metrics_text()
        except OSError:
            return set()
        return {line.split('partition="', 1)[1].split('"', 1)[0] for line in text.splitlines()
                if line.startswith("ccpulse_consumer_lag_records{")}

    def ready(self):
        try:
            return urllib.request.urlopen(f"{self.url}/readyz", timeout=5).status == 200
        except OSError:
            return False

    def log_text(self):
        return "".join(open(os.path.join(self.work, f"{self.name}-life{i}.err")).read() for i in range(1, self.lives + 1))


def read_lines(paths):
    """Complete JSON lines of every life (a kill may cut the last line of a file)."""
    lines = []
    for path in paths:
        if not os.path.exists(path):
            continue
        for line in open(path).read().split("\n"):
            try:
                json.loads(line)
                lines.append(line)
            except ValueError:
                pass
    return lines


def parse(stamp_text):
    return datetime.datetime.strptime(stamp_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def stamp(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_time(line):
    return parse(json.loads(line)["alert"]["changed_at"][:19] + "Z")


def group_of(line):
    r = json.loads(line)
    return r.get("time"), "alert" if "alert" in r else "window"


def produce_with_kills(broker, topic, lines, victims, rng, what, chunks=30):
    """Produces `lines` in chunks; after len(victims) seeded chunks, SIGKILLs the next of
    `victims` (in a seeded order) at a random moment and restarts it."""
    size = (len(lines) + chunks - 1) // chunks
    kill_at = dict(zip(rng.sample(range(1, chunks), len(victims)), victims))
    for i in range(chunks):
        kt.produce(broker.bootstrap, topic, lines[i * size:(i + 1) * size])
        if i in kill_at:
            victim = kill_at[i]
            time.sleep(rng.uniform(0.0, 2.5))
            victim.kill()
            log(f"{what}: killed {victim.name} (life {victim.lives}) after chunk {i + 1}/{chunks}")
            victim.start()


def assignment(instances, partitions):
    """Who owns what, when every instance owns partitions and each partition one owner."""
    sets = [inst.owned_partitions() for inst in instances]
    if all(sets) and sum(map(len, sets)) == partitions and len(set().union(*sets)) == partitions:
        return {inst.name: sorted(s) for inst, s in zip(instances, sets)}
    return None


def wait_settled(instances, partitions, timeout=120):
    """Waits until the group has settled: `assignment` holds, the same for 5 s."""
    stable = {"since": None, "value": None}
    def settled():
        value = assignment(instances, partitions)
        if value != stable["value"]:
            stable.update(since=time.time(), value=value)
        return value if value and time.time() - stable["since"] >= 5 else None
    return wait_for(settled, timeout, "every instance to own partitions, stably", interval=1)


def wait_caught_up(broker, group, partitions, timeout):
    # A topic written in transactions ends with a marker after the last record; the engine
    # commits past it too.
    def done():
        lag = kt.group_lag(broker, group)
        return len(lag) == partitions and all(int(v[2]) == 0 for v in lag.values())
    wait_for(done, timeout, "committed offsets at the end of every partition", interval=2)


def prepare(binary, broker, work, name, partitions, seed, teams, duration, repartition=None):
    topic = f"crash-{name}"
    kt.create_topic(broker, topic, partitions)
    events_path = os.path.join(work, f"{name}.jsonl")
    events = kt.simulate(binary, events_path, seed=seed, teams=teams, duration=duration)
    # Keyed by customer; or, to be repartitioned, by event id (a customer's events spread over
    # every partition).
    key = (lambda e: e["event_id"]) if repartition else kt.key_of
    lines = [(key(e), json.dumps(e, separators=(",", ":"))) for e in events]
    cfg = os.path.join(work, f"{name}-replay.yaml")
    with open(cfg, "w") as f:
        f.write(config_text("unused:9092", topic, "unused", "unused", "-", os.path.join(work, "unused")))
    out = subprocess.run([binary, "replay", "--quiet", "--no-detectors", "--config", cfg, events_path],
                         check=True, capture_output=True, text=True, timeout=300).stdout
    replay = [line for line in out.splitlines() if line and not {"final", "summary"} & json.loads(line).keys()]
    # Where the comparison must at least reach: the event time 95 % of the events precede.
    times = sorted(parse(e["time"][:19] + "Z") for e in events)
    return topic, lines, replay, stamp(times[len(times) * 95 // 100])


def test_single_instance(binary, broker, work, backend="dir", kills=10, duration="10h"):
    name = f"single-{backend}"
    topic, lines, replay, reach = prepare(binary, broker, work, name, 3, seed=41, teams=8, duration=duration)
    group = f"g-crash-{name}"
    rng = random.Random(20261123)
    # With the topic backend no life has local state: as if each restart were on another machine.
    inst = Instance(binary, work, f"solo-{backend}", broker.bootstrap, topic, group,
                    checkpoint_topic="ccpulse-checkpoints" if backend == "topic" else None)
    inst.start()
    try:
        # Every kill then has a checkpoint to restore (on a new broker, the topic backend's
        # first one waits ~1 s more for the transaction coordinator).
        wait_for(lambda: kt.metric_value(inst.metrics_text(), "ccpulse_checkpoints_total", '{result="durable"}') >= 1,
                 60, "the first checkpoint")
        produce_with_kills(broker, topic, lines, [inst] * kills, rng, name)
        wait_caught_up(broker, group, 3, 180)
        time.sleep(25)  # partitions idle out (20 s): the windows reach the end of the stream
        forked = kt.metric_value(inst.metrics_text(), "ccpulse_checkpoints_total", '{result="forked"}')
        check(forked > 0, "no checkpoint of the last life was taken by a forked child")
    finally:
        inst.stop()
    log_text = inst.log_text()
    restores = log_text.count("restored checkpoint")
    check(restores >= kills - 1, f"expected a restore after (nearly) every kill, saw {restores}:\n{log_text[-3000:]}")
    if backend == "topic":
        check("from topic ccpulse-checkpoints[" in log_text, f"not restored from the topic:\n{log_text[-2000:]}")
        check(not os.path.exists(inst.checkpoints), "the topic backend wrote a local directory")

    windows, boundaries, alerts = compare_with_replay(name, read_lines(inst.outputs), replay, reach)
    log(f"{name}: {inst.lives} lives, {restores} restores; {windows} window records at {boundaries} boundaries and "
        f"{alerts} alert changes equal the uninterrupted replay")


def compare_with_replay(name, run_lines, replay, reach):
    """Every window record and alert change of the run's lives (together) equals the replay's, at
    every boundary the run reached. Returns the window records, boundaries and alert changes compared."""
    replay_by = defaultdict(set)
    for line in replay:
        replay_by[group_of(line)].add(line)
    run_by = defaultdict(set)
    for line in run_lines:
        run_by[group_of(line)].add(line)
    # The run's windows end where the watermark stops (newest event - lateness); replay's end
    # after its last event. Every boundary the run reached is compared.
    last = max(t for t, kind in run_by if kind == "window")
    check(last >= reach, f"{name}: the run's windows stopped at {last}, before {reach}")
    for key in sorted(k for k in replay_by if k[1] == "window" and k[0] <= last):
        got, want = run_by.get(key, set()), replay_by[key]
        if got != want:
            extra = sorted(got - want)
            missing = sorted(want - got)
            raise Failure(f"{name}: boundary {key[0]}: {len(missing)} replay records missing, {len(extra)} differ; "
                          f"e.g. {(extra or missing)[0][:300]}")
    run_alerts = {line for line in run_lines if '"alert"' in line and alert_time(line) < parse(last)}
    replay_alerts = {line for line in replay if '"alert"' in line and alert_time(line) < parse(last)}
    check(replay_alerts, "the replay has no alerts: the test stream should make some")
    check(run_alerts == replay_alerts, f"{name}: alerts differ: {len(run_alerts - replay_alerts)} extra, "
                                       f"{len(replay_alerts - run_alerts)} missing")
    windows = sum(len(v) for k, v in replay_by.items() if k[1] == "window" and k[0] <= last)
    return windows, sum(1 for k in replay_by if k[1] == "window" and k[0] <= last), len(replay_alerts)


def test_standby(binary, broker, work, kills=4):
    """An active instance and a standby on a one-partition topic, sharing one checkpoint name in
    the checkpoint topic (each its own group member): the active one is killed with SIGKILL at
    seeded points; each time the standby is given the partition, restores the newest checkpoint
    (the killed one's) and carries on, and the killed one comes back as the standby. Every
    window record and alert change of every life together equals the uninterrupted replay, per
    whole team (one engine at a time holds the stream)."""
    name = "standby"
    # Sharing a checkpoint needs one partition: on a wider topic the instance refuses to start.
    kt.create_topic(broker, "crash-standby-wide", 3)
    cfg = os.path.join(work, "standby-wide.yaml")
    with open(cfg, "w") as f:
        f.write(config_text(broker.bootstrap, "crash-standby-wide", "g-wide", "wide-0", "-", "unused",
                            "ccpulse-checkpoints", checkpoint_name="ccpulse-wide"))
    refused = subprocess.run([binary, "run", "--config", cfg], capture_output=True, text=True, timeout=60)
    check(refused.returncode == 2 and "must read one partition, but crash-standby-wide has 3" in refused.stderr,
          f"standby on a 3-partition topic: exit {refused.returncode}: {refused.stderr[-1000:]}")
    topic, lines, replay, reach = prepare(binary, broker, work, name, 1, seed=61, teams=8, duration="6h")
    group = f"g-crash-{name}"
    rng = random.Random(4242)
    # A short session: the group hands the dead member's partition over 6 s after the kill.
    instances = [Instance(binary, work, f"{name}-{i}", broker.bootstrap, topic, group,
                          checkpoint_topic="ccpulse-checkpoints", checkpoint_name="ccpulse-standby",
                          session_timeout_ms=6000) for i in range(2)]
    try:
        active, standby = instances
        active.start()
        wait_for(lambda: active.owned_partitions() == {f"{topic}[0]"}, 60, f"{active.name} to own the partition")
        standby.start()
        wait_for(standby.ready, 60, f"{standby.name}, owning nothing, to be ready")
        check(standby.owned_partitions() == set(), f"{standby.name} owns {standby.owned_partitions()}")
        chunks = 24
        size = (len(lines) + chunks - 1) // chunks
        stops = rng.sample(range(1, chunks - 1), kills + 2)
        kill_at, pause_at, term_at = set(stops[:kills]), stops[kills], stops[kills + 1]
        for i in range(chunks):
            kt.produce(broker.bootstrap, topic, lines[i * size:(i + 1) * size])
            if i not in kill_at and i != pause_at and i != term_at:
                continue
            time.sleep(rng.uniform(0.0, 2.0))
            if i == term_at:
                # A planned stop (a rolling update): the active instance takes a last checkpoint
                # and leaves the group, so the standby takes over without waiting for the session.
                active.stop()
                log(f"{name}: stopped the active {active.name} (life {active.lives}) after chunk {i + 1}/{chunks}")
            elif i == pause_at:
                # A pause past the session (a long GC, a frozen VM): the standby takes over while
                # the paused one still believes it is active. Woken, it must not write under
                # the shared name: it is fenced (and exits), or learns it lost the partition.
                active.proc.send_signal(signal.SIGSTOP)
                log(f"{name}: paused the active {active.name} (life {active.lives}) after chunk {i + 1}/{chunks}")
            else:
                active.kill()
                log(f"{name}: killed the active {active.name} (life {active.lives}) after chunk {i + 1}/{chunks}")
            took = time.time()
            wait_for(lambda: standby.owned_partitions() == {f"{topic}[0]"}, 60, f"{standby.name} to take over")
            wait_for(standby.ready, 60, f"{standby.name} to be ready after taking over")
            took = time.time() - took
            log(f"{name}: {standby.name} took over in {took:.1f} s")
            if i == term_at:
                # Within the session timeout only if the stopped one left the group.
                check(took < 6.0, f"{standby.name} took {took:.1f} s to take over from a stopped instance")
                active.start()
            elif i == pause_at:
                durable = lambda: kt.metric_value(standby.metrics_text(), "ccpulse_checkpoints_total",
                                                 '{result="durable"}')
                wait_for(lambda: durable() >= 2, 30, f"{standby.name} to write checkpoints")
                active.proc.send_signal(signal.SIGCONT)
                life_log = lambda: open(active.err_path).read()
                wait_for(lambda: active.proc.poll() is not None or "standing by" in life_log(), 60,
                         f"{active.name}, woken, to exit or stand by")
                if active.proc.poll() is not None:
                    check(active.proc.returncode == 1 and "fenced: another instance has claimed the name" in life_log(),
                          f"{active.name} exited {active.proc.returncode}: {life_log()[-1500:]}")
                    active.err.close()
                    log(f"{name}: {active.name}, woken, was fenced on writing a checkpoint and exited")
                    active.start()
                else:
                    time.sleep(3)  # a write it had under way is fenced, which must not stop it
                    check(active.proc.poll() is None, f"{active.name} exited on standing by: {life_log()[-1500:]}")
                    log(f"{name}: {active.name}, woken, found its partition lost and stands by")
                check(active.owned_partitions() == set(), f"{active.name} owns {active.owned_partitions()} after waking")
            else:
                active.start()  # back as the standby
            active, standby = standby, active
        wait_caught_up(broker, group, 1, 180)
        time.sleep(25)  # the partition idles out (20 s): the windows reach the end of the stream
    finally:
        for inst in instances:
            if inst.proc is not None:
                inst.stop()
    takeovers = sum(inst.log_text().count("restored checkpoint") for inst in instances)
    check(takeovers >= kills + 2, f"{name}: {takeovers} restores for {kills} kills, a pause and a stop")
    run_lines = read_lines([path for inst in instances for path in inst.outputs])
    windows, boundaries, alerts = compare_with_replay(name, run_lines, replay, reach)
    log(f"{name}: {kills} kills, a pause and a stop of the active instance, {takeovers} restores; {windows} window records at "
        f"{boundaries} boundaries and {alerts} alert changes, per whole team, equal the uninterrupted replay")


COUNT_FIELDS = ["inflow", "answered", "abandoned", "abandoned_short", "handled", "resolved", "closed", "transferred",
                "escalated", "reopened", "expired", "gaps"]


def additive(record):
    """The counts of a window record that add up across instances."""
    m = record["metrics"]
    values = {f: m[f] for f in COUNT_FIELDS}
    for name, v in m.items():
        if isinstance(v, dict) and "numerator" in v:
            values[name + ".num"] = v["numerator"]
            values[name + ".den"] = v["denominator"]
    values["backlog.waiting"] = m["backlog"]["waiting"]
    values["backlog.in_progress"] = m["backlog"]["in_progress"]
    return values


def test_instances(binary, broker, work, count, repartition=False):
    name = f"multi{count}" + ("-repartition" if repartition else "")
    internal = f"{name}-by-customer" if repartition else None
    inputs = 6
    topic, lines, replay, reach = prepare(binary, broker, work, name, inputs, seed=50 + count, teams=8,
                                          duration="6h", repartition=internal)
    partitions = REPARTITION_PARTITIONS if repartition else inputs  # what the engines consume
    group = f"g-crash-{name}"
    rng = random.Random(1000 + count)
    instances = [Instance(binary, work, f"{name}-{i}", broker.bootstrap, topic, group, repartition=internal)
                 for i in range(count)]
    try:
        for inst in instances:
            inst.start()
        # Nothing is produced until the group has settled.
        owned = wait_settled(instances, partitions)
        log(f"{name}: assignment {owned}")
        victim = instances[rng.randrange(count)]
        produce_with_kills(broker, topic, lines, [victim] * 5, rng, name)
        if repartition:
            wait_caught_up(broker, f"{group}-repartition", inputs, 180)
        wait_caught_up(broker, group, partitions, 180)
        time.sleep(25)
        after = assignment(instances, partitions)
        check(after == owned, f"the assignment changed ({owned} -> {after}): state would not have followed")
    finally:
        for inst in instances:
            if inst.proc is not None:
                inst.stop()

    want = {}
    for line in replay:
        r = json.loads(line)
        if "window" in r and r["window"] != "today":
            want[(r["time"], r["tenant"], r["team"], r["window"])] = additive(r)
    got = defaultdict(lambda: defaultdict(int))
    lasts = []  # each instance's windows end where its own partitions' watermark stops
    for inst in instances:
        seen = {}
        for line in read_lines(inst.outputs):
            r = json.loads(line)
            if "window" not in r or r["window"] == "today":
                continue
            key = (r["time"], r["tenant"], r["team"], r["window"])
            values = additive(r)
            if key in seen:
                check(seen[key] == values, f"{inst.name}: {key} emitted twice with different counts")
                continue
            seen[key] = values
            for f, v in values.items():
                got[key][f] += v
        lasts.append(max(k[0] for k in seen))
    last = min(lasts)
    compared = 0
    for key, values in want.items():
        if key[0] > last:
            continue
        summed = got.get(key, {})
        for f, v in values.items():
            if summed.get(f, 0) != v:
                raise Failure(f"{name}: {key} {f}: instances sum to {summed.get(f, 0)}, replay has {v}")
        compared += 1
    check(last >= reach, f"{name}: the instances' windows stopped at {last}, before {reach}")
    victim_restores = victim.log_text().count("restored checkpoint")
    if repartition:
        check(f"repartitioning by customer into {internal} ({REPARTITION_PARTITIONS} partitions)" in victim.log_text(),
              f"{name}: no repartition stage:\n{victim.log_text()[-2000:]}")
    log(f"{name}: {victim.name} killed 5 times ({victim_restores} restores); {compared} team windows summed over "
        f"{count} instances equal the replay in every count, numerator and denominator")


def exported_teams(metrics_text):
    """The teams an instance's /metrics reports."""
    return {line.split('team="', 1)[1].split('"', 1)[0] for line in metrics_text.splitlines()
            if line.startswith("ccpulse_team_contacts_total{")}


def test_team_stage(binary, broker, work):
    name = "teamstage"
    inputs, team_partitions = 4, 2
    teams_topic = f"{name}-teams"
    topic, lines, replay, reach = prepare(binary, broker, work, name, inputs, seed=71, teams=8, duration="6h")
    group = f"g-crash-{name}"
    rng = random.Random(7171)
    # Every instance of a tier keeps its checkpoints in the checkpoint topic, one series per
    # partition it reads, so that a partition's state follows it to another instance.
    def customer_instance(i):
        return Instance(binary, work, f"{name}-c{i}", broker.bootstrap, topic, group,
                        checkpoint_topic="ccpulse-checkpoints",
                        team_stage=["role: customers", f"topic: {teams_topic}", f"partitions: {team_partitions}"])
    customers = [customer_instance(i) for i in range(2)]
    customer3 = customer_instance(2)
    # One channel per input partition.
    team_config = ["role: teams", f"topic: {teams_topic}", f"partitions: {team_partitions}", f"channels: {inputs}"]
    def team_instance(suffix):
        return Instance(binary, work, f"{name}-{suffix}", broker.bootstrap, topic, f"{group}-teams",
                        checkpoint_topic="ccpulse-checkpoints", team_stage=team_config)
    team, team2 = team_instance("t"), team_instance("t2")
    instances = customers + [team]
    try:
        for inst in customers:
            inst.start()
        # Nothing is produced until the customer group has settled.
        owned = wait_settled(customers, inputs)
        team.start()  # the customer instances have created the team topic
        wait_for(lambda: len(team.owned_partitions()) == team_partitions, 60, "the team instance to own the team topic")
        log(f"{name}: customer instances own {owned}; the team instance {sorted(team.owned_partitions())}")
        victim = customers[rng.randrange(2)]
        half = len(lines) // 2
        produce_with_kills(broker, topic, lines[:half], [victim] * 4 + [team] * 2, rng, name, chunks=16)
        # A second team instance joins mid-stream and the group gives it a team partition: the
        # first one checkpoints that partition and drops its teams at the revoke, and the second
        # restores the partition's state and goes on from there.
        teams_before = exported_teams(team.metrics_text())
        instances.append(team2)
        team2.start()
        wait_for(lambda: len(team.owned_partitions()) == 1 and len(team2.owned_partitions()) == 1, 90,
                 "the two team instances to share the team partitions")
        def reported_after():
            now = exported_teams(team.metrics_text())
            return (now,) if now < teams_before else None
        teams_after, = wait_for(reported_after, 30, f"{team.name} to drop the teams of the partition it gave up")
        check(teams_after, f"{name}: {team.name} reports no team after giving up one of two partitions")
        moved = team2.owned_partitions()
        log(f"{name}: {team2.name} took {sorted(moved)}; {team.name} reports {len(teams_after)} of its "
            f"{len(teams_before)} teams")
        # A third customer instance joins: the group gives it input partitions, which the others
        # pause (the team tier waits for their channels), checkpoint and drop at the revoke, and
        # it restores their interactions, repeat contacts and where their records stand.
        instances.append(customer3)
        customers.append(customer3)
        customer3.start()
        taken = wait_settled(customers, inputs)[customer3.name]
        log(f"{name}: {customer3.name} took input partitions {sorted(taken)}")
        # A clean stop longer than idle_partition (a slow rolling update) while the rest of the
        # stream arrives: the other customer instance goes on, this one's input waits. Its last
        # record asks the team tier to wait for it, so nothing it sends once back is late
        # (without that, the team tier went on after 20 s and dropped its backlog as late).
        victim.stop()
        log(f"{name}: stopped {victim.name} cleanly for 30 s while the second half is produced")
        kt.produce(broker.bootstrap, topic, lines[half:])
        time.sleep(30)
        victim.start()
        wait_caught_up(broker, group, inputs, 180)
        time.sleep(25)  # partitions idle out (20 s): the customer instances send their last slices
        # While they run, they tell the team tier every second that they are there: the team
        # topic ends once they stop.
        for inst in customers:
            inst.stop()
        wait_caught_up(broker, f"{group}-teams", team_partitions, 180)
        texts = [inst.metrics_text() for inst in (team, team2)]
        repeated = sum(kt.metric_value(t, "ccpulse_team_feed_dropped_total", '{reason="repeated"}') for t in texts)
        late = sum(kt.metric_value(t, "ccpulse_team_feed_dropped_total", '{reason="late"}') for t in texts)
        gaps = sum(kt.metric_value(t, "ccpulse_team_feed_records_total", '{result="after_a_gap"}') for t in texts)
        ends = [float(line.rsplit(" ", 1)[1]) for t in texts for line in t.splitlines()
                if line.startswith("ccpulse_team_feed_channel_end_seconds{")]
        # Each team instance's checkpoint parts (one per team partition) by a forked child.
        forked = [kt.metric_value(t, "ccpulse_checkpoints_total", '{result="forked"}') for t in texts]
    finally:
        for inst in instances:
            if inst.proc is not None:
                inst.stop()
    # Team partition restores: each of the first instance's lives after the first (a kill), and
    # the second instance's of the partition it took.
    restores = {inst.name: inst.log_text().count(f"restored {teams_topic}[") for inst in (team, team2)}
    for inst in (victim, customer3):
        restores[inst.name] = inst.log_text().count(f"restored {topic}[")
    check(restores[victim.name] >= 3 and restores[team.name] >= 2 * team_partitions and restores[team2.name] == 1,
          f"{name}: restores {restores}")
    check(f"restored {sorted(moved)[0]} from checkpoint" in team2.log_text(),
          f"{name}: {team2.name} did not restore {sorted(moved)[0]}:\n{team2.log_text()[-2000:]}")
    for partition in taken:
        check(f"restored {partition} from checkpoint" in customer3.log_text(),
              f"{name}: {customer3.name} did not restore {partition}:\n{customer3.log_text()[-2000:]}")
    check(min(forked) > 0, f"{name}: forked checkpoints of the team instances: {forked}")
    check(repeated > 0, f"{name}: the team stage saw no slice sent twice, though a customer instance restarted")
    check(late == 0 and gaps == 0, f"{name}: the team tier dropped {late:.0f} late contributions, {gaps:.0f} records "
                                   "came after a gap")
    # Every input partition's channel on every team partition has sent up to the end of the stream.
    check(len(ends) == inputs * team_partitions and min(ends) >= parse(reach),
          f"{name}: channel ends {ends}, expected {inputs * team_partitions} reaching {reach}")
    # Both team instances together: the moved partition's teams from the first until the move,
    # from the second after it.
    windows, boundaries, alerts = compare_with_replay(name, read_lines(team.outputs + team2.outputs), replay, reach)
    log(f"{name}: {victim.name} killed 4 times and stopped once, {team.name} killed twice, {sorted(moved)} moved to "
        f"{team2.name} and {sorted(taken)} to {customer3.name} mid-stream ({restores}); the team tier's {windows} window records at {boundaries} boundaries "
        f"and {alerts} alert changes equal the uninterrupted replay, per whole team")


TESTS = {
    "single_instance": test_single_instance,
    "topic_backend": lambda b, k, w: test_single_instance(b, k, w, backend="topic", kills=4, duration="4h"),
    "two_instances": lambda b, k, w: test_instances(b, k, w, 2),
    "three_instances": lambda b, k, w: test_instances(b, k, w, 3),
    "two_instances_repartitioned": lambda b, k, w: test_instances(b, k, w, 2, repartition=True),
    "standby": test_standby,
    "team_stage": test_team_stage,
}


if __name__ == "__main__":
    kt.run_tests(TESTS, "ccpulse-crash-")
