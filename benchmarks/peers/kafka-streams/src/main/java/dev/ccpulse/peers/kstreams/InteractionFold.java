// The interaction state machine (DESIGN §2) as a Kafka Streams processor over a key-value state
// store: one entry per interaction, updated by each of its events, emitting at most one Delta
// for the team the event concerns. A port of the parts of ccpulse's operators/interactions.cc
// that escalation ratio, abandon ratio and AHT depend on (phases, redundant transitions,
// duplicate event ids, short abandons, handle time, expiry and retention), for events that
// arrive in event-time order per interaction (ccpulse also re-folds out-of-order ones).
package dev.ccpulse.peers.kstreams;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/** One instance per stream task; touches only its task's store. */
public final class InteractionFold implements Processor<String, Event, String, Delta> {
  public static final String STORE = "interactions";

  enum Phase { NONE, WAITING, WORKING, HANDED_OFF, DONE }

  private static final Phase[] PHASES = Phase.values();
  private static final Event.Channel[] CHANNELS = Event.Channel.values();

  /** Where an interaction stands after its latest event. */
  static final class State {
    Phase phase = Phase.NONE;
    String team = "";  // team key of the current phase
    Event.Channel channel = Event.Channel.OTHER;
    long lastTime, waitStart, workStart;
    boolean handedOff, reopened;
    long[] eventKeys = new long[0];  // hashes of the event ids applied (duplicates)

    boolean at(Phase p, String t) {
      return phase == p && team.equals(t);
    }

    boolean open() {
      return phase == Phase.WAITING || phase == Phase.WORKING || phase == Phase.HANDED_OFF;
    }

    void reset() {
      phase = Phase.NONE;
      team = "";
      handedOff = false;
      reopened = false;
      waitStart = workStart = 0;
    }
  }

  private final MetricOptions options;
  private final Counters counters;
  private ProcessorContext<String, Delta> context;
  private KeyValueStore<String, State> store;

  public InteractionFold(MetricOptions options, Counters counters) {
    this.options = options;
    this.counters = counters;
  }

  @Override
  public void init(ProcessorContext<String, Delta> context) {
    this.context = context;
    this.store = context.getStateStore(STORE);
    // Forget finished interactions after the retention and open ones after their expiry, as
    // ccpulse evicts them once the watermark passes (results do not depend on it: the fold
    // resets on such gaps anyway; this bounds the store).
    context.schedule(Duration.ofMillis(options.retentionMs), PunctuationType.STREAM_TIME, this::evict);
  }

  @Override
  public void process(Record<String, Event> record) {
    counters.consumed.increment();
    final Event e = record.value();
    if (e == null) {
      counters.invalid.increment();
      return;
    }
    counters.maxEventTime.accumulate(e.timeMs);
    if (e.timeMs < context.currentStreamTimeMs() - options.latenessMs) {
      counters.late.increment();  // ccpulse dead-letters it as "late" and does not apply it
      return;
    }
    final String key = e.tenant + "/" + e.interactionId;
    State s = store.get(key);
    if (s == null) s = new State();
    final long eventKey = hash64(e.eventId);
    for (long k : s.eventKeys) {
      if (k == eventKey) {
        counters.duplicates.increment();
        return;
      }
    }
    final Delta delta = step(s, e);
    s.eventKeys = append(s.eventKeys, eventKey);
    store.put(key, s);
    if (delta != null) {
      counters.deltas.increment();
      context.forward(record.withKey(e.teamKey()).withValue(delta));
    }
  }

  /** Folds one event into `s`; returns its effect on the event's team, or null. */
  private Delta step(State s, Event e) {
    final String team = e.teamKey();
    if (s.phase != Phase.NONE) {
      final long gap = e.timeMs - s.lastTime;
      if (s.open() && gap > options.expiryMs(s.channel)) {
        s.reset();  // expired: ccpulse counts it as expired and starts afresh
      } else if (!s.open() && gap > options.retentionMs) {
        s.reset();  // forgotten after the retention
      }
    }
    if (e.channel != Event.Channel.OTHER) s.channel = e.channel;
    Delta delta = null;
    switch (e.type) {
      case QUEUED:
        if (s.at(Phase.WAITING, team)) {
          counters.redundant.increment();
          break;
        }
        s.phase = Phase.WAITING;
        s.team = team;
        s.waitStart = e.timeMs;
        break;
      case ANSWERED:
        if (s.at(Phase.WORKING, team)) {
          counters.redundant.increment();
          break;
        }
        delta = new Delta(Delta.Kind.ANSWERED, -1);
        s.phase = Phase.WORKING;
        s.team = team;
        s.workStart = e.timeMs;
        break;
      case ABANDONED: {
        if (s.at(Phase.DONE, team)) {
          counters.redundant.increment();
          break;
        }
        // An abandon without a known wait at this team counts as a (long) abandon.
        final boolean isShort = s.at(Phase.WAITING, team) && e.timeMs - s.waitStart < options.shortAbandonMs;
        delta = new Delta(isShort ? Delta.Kind.ABANDONED_SHORT : Delta.Kind.ABANDONED, -1);
        s.phase = Phase.DONE;
        s.team = team;
        break;
      }
      case REOPENED:
        if (s.phase != Phase.DONE && s.phase != Phase.NONE) {
          counters.redundant.increment();
          break;
        }
        s.reopened = true;
        s.phase = Phase.WORKING;
        s.team = team;
        s.workStart = e.timeMs;
        break;
      default: {  // an outcome: resolved, closed, transferred, escalated
        if (s.at(Phase.DONE, team) || s.at(Phase.HANDED_OFF, team)) {
          counters.redundant.increment();
          break;
        }
        final long handleMs = s.at(Phase.WORKING, team) ? clampMs(e.timeMs - s.workStart) : -1;
        delta = new Delta(outcomeKind(e.type), handleMs);
        s.team = team;
        if (e.type == Event.Type.TRANSFERRED || e.type == Event.Type.ESCALATED) {
          s.handedOff = true;
          s.phase = Phase.HANDED_OFF;
        } else {
          s.phase = Phase.DONE;
        }
      }
    }
    s.lastTime = e.timeMs;
    return delta;
  }

  private void evict(long streamTime) {
    final long watermark = streamTime - options.latenessMs;
    final List<String> due = new ArrayList<>();
    try (KeyValueIterator<String, State> it = store.all()) {
      while (it.hasNext()) {
        final KeyValue<String, State> kv = it.next();
        final State s = kv.value;
        final long evictAt = s.lastTime + (s.open() ? options.expiryMs(s.channel) : options.retentionMs);
        if (evictAt < watermark) due.add(kv.key);
      }
    }
    for (String key : due) store.delete(key);
    counters.evicted.add(due.size());
  }

  private static Delta.Kind outcomeKind(Event.Type type) {
    switch (type) {
      case RESOLVED: return Delta.Kind.RESOLVED;
      case CLOSED: return Delta.Kind.CLOSED;
      case TRANSFERRED: return Delta.Kind.TRANSFERRED;
      default: return Delta.Kind.ESCALATED;
    }
  }

  // ccpulse keeps durations as uint32 milliseconds.
  private static long clampMs(long ms) {
    return ms < 0 ? 0 : Math.min(ms, 0xFFFF_FFFFL);
  }

  private static long[] append(long[] a, long v) {
    final long[] out = java.util.Arrays.copyOf(a, a.length + 1);
    out[a.length] = v;
    return out;
  }

  /** FNV-1a over the UTF-16 code units. */
  static long hash64(String s) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < s.length(); ++i) {
      h ^= s.charAt(i);
      h *= 0x100000001b3L;
    }
    return h;
  }

  /** Serde of State: a compact binary record. */
  public static Serde<State> stateSerde() {
    final Serializer<State> serializer = (topic, s) -> {
      if (s == null) return null;
      final byte[] team = s.team.getBytes(StandardCharsets.UTF_8);
      final ByteBuffer b = ByteBuffer.allocate(4 + 2 + team.length + 3 * 8 + 8 * s.eventKeys.length);
      b.put((byte) s.phase.ordinal()).put((byte) s.channel.ordinal())
          .put((byte) ((s.handedOff ? 1 : 0) | (s.reopened ? 2 : 0))).put((byte) s.eventKeys.length);
      b.putShort((short) team.length).put(team);
      b.putLong(s.lastTime).putLong(s.waitStart).putLong(s.workStart);
      for (long k : s.eventKeys) b.putLong(k);
      return b.array();
    };
    final Deserializer<State> deserializer = (topic, data) -> {
      if (data == null) return null;
      final ByteBuffer b = ByteBuffer.wrap(data);
      final State s = new State();
      s.phase = PHASES[b.get()];
      s.channel = CHANNELS[b.get()];
      final int flags = b.get();
      s.handedOff = (flags & 1) != 0;
      s.reopened = (flags & 2) != 0;
      final int keys = b.get() & 0xff;
      final byte[] team = new byte[b.getShort()];
      b.get(team);
      s.team = new String(team, StandardCharsets.UTF_8);
      s.lastTime = b.getLong();
      s.waitStart = b.getLong();
      s.workStart = b.getLong();
      s.eventKeys = new long[keys];
      for (int i = 0; i < keys; ++i) s.eventKeys[i] = b.getLong();
      return s;
    };
    return Serdes.serdeFrom(serializer, deserializer);
  }
}
