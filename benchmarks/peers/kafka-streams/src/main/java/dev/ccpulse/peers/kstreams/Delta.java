// What the interaction fold emits for one event, keyed by the team it concerns: which counter
// it increments and, for an outcome after an answer, the handle time. The record timestamp is
// the event time, so the windowed aggregations put it in the right windows.
package dev.ccpulse.peers.kstreams;

import java.nio.ByteBuffer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** One team-level effect of one event. Immutable. */
public final class Delta {
  public enum Kind { ANSWERED, ABANDONED, ABANDONED_SHORT, RESOLVED, CLOSED, TRANSFERRED, ESCALATED }

  private static final Kind[] KINDS = Kind.values();

  public final Kind kind;
  /** Handle time in ms (answered/reopened to this outcome at the same team), or -1. */
  public final long handleMs;

  public Delta(Kind kind, long handleMs) {
    this.kind = kind;
    this.handleMs = handleMs;
  }

  public static Serde<Delta> serde() {
    final Serializer<Delta> serializer = (topic, d) -> {
      if (d == null) return null;
      final ByteBuffer b = ByteBuffer.allocate(9);
      b.put((byte) d.kind.ordinal()).putLong(d.handleMs);
      return b.array();
    };
    final Deserializer<Delta> deserializer = (topic, data) -> {
      if (data == null) return null;
      final ByteBuffer b = ByteBuffer.wrap(data);
      return new Delta(KINDS[b.get()], b.getLong());
    };
    return Serdes.serdeFrom(serializer, deserializer);
  }
}
