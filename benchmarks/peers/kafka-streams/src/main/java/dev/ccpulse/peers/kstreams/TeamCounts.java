// The windowed aggregate of one team: the counts behind escalation ratio, abandon ratio and AHT
// (DESIGN §4, README "Metric definitions"), and those metrics computed from it.
package dev.ccpulse.peers.kstreams;

import java.nio.ByteBuffer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** Mutable while aggregating (Kafka Streams hands each call a freshly deserialized copy). */
public final class TeamCounts {
  public long answered, abandoned, abandonedShort, resolved, closed, transferred, escalated;
  public long handleMsSum, handleCount;

  public TeamCounts add(Delta d) {
    switch (d.kind) {
      case ANSWERED: ++answered; break;
      case ABANDONED: ++abandoned; break;
      case ABANDONED_SHORT: ++abandonedShort; break;
      case RESOLVED: ++resolved; break;
      case CLOSED: ++closed; break;
      case TRANSFERRED: ++transferred; break;
      case ESCALATED: ++escalated; break;
    }
    if (d.handleMs >= 0) {
      handleMsSum += d.handleMs;
      ++handleCount;
    }
    return this;
  }

  /** Adds another aggregate (slices summed into a window). */
  public TeamCounts merge(TeamCounts o) {
    answered += o.answered;
    abandoned += o.abandoned;
    abandonedShort += o.abandonedShort;
    resolved += o.resolved;
    closed += o.closed;
    transferred += o.transferred;
    escalated += o.escalated;
    handleMsSum += o.handleMsSum;
    handleCount += o.handleCount;
    return this;
  }

  public long handled() {
    return resolved + closed + transferred + escalated;
  }

  /** The metrics as a JSON object body (no braces), in ccpulse's units and null conventions. */
  public void appendJson(StringBuilder out) {
    final long handled = handled();
    out.append("\"handled\":").append(handled)
        .append(",\"escalated\":").append(escalated)
        .append(",\"answered\":").append(answered)
        .append(",\"abandoned\":").append(abandoned)
        .append(",\"abandoned_short\":").append(abandonedShort)
        .append(",\"handle_ms\":").append(handleMsSum)
        .append(",\"handle_count\":").append(handleCount)
        .append(",\"escalation_ratio\":").append(ratio(escalated, handled))
        .append(",\"abandon_ratio\":").append(ratio(abandoned, answered + abandoned))
        .append(",\"aht_seconds\":")
        .append(handleCount == 0 ? "null" : Double.toString((double) handleMsSum / 1000.0 / (double) handleCount));
  }

  private static String ratio(long numerator, long denominator) {
    return denominator == 0 ? "null" : Double.toString((double) numerator / (double) denominator);
  }

  public static Serde<TeamCounts> serde() {
    final Serializer<TeamCounts> serializer = (topic, c) -> {
      if (c == null) return null;
      final ByteBuffer b = ByteBuffer.allocate(9 * Long.BYTES);
      b.putLong(c.answered).putLong(c.abandoned).putLong(c.abandonedShort).putLong(c.resolved)
          .putLong(c.closed).putLong(c.transferred).putLong(c.escalated).putLong(c.handleMsSum)
          .putLong(c.handleCount);
      return b.array();
    };
    final Deserializer<TeamCounts> deserializer = (topic, data) -> {
      if (data == null) return null;
      final ByteBuffer b = ByteBuffer.wrap(data);
      final TeamCounts c = new TeamCounts();
      c.answered = b.getLong();
      c.abandoned = b.getLong();
      c.abandonedShort = b.getLong();
      c.resolved = b.getLong();
      c.closed = b.getLong();
      c.transferred = b.getLong();
      c.escalated = b.getLong();
      c.handleMsSum = b.getLong();
      c.handleCount = b.getLong();
      return c;
    };
    return Serdes.serdeFrom(serializer, deserializer);
  }
}
