// The metric parameters this peer shares with ccpulse, with ccpulse's defaults
// (operators/options.h): windows, slice, allowed lateness, short abandons, retention, expiry.
package dev.ccpulse.peers.kstreams;

import java.util.ArrayList;
import java.util.List;

/** Immutable after start-up. */
public final class MetricOptions {
  public long sliceMs = 10_000;
  public List<Long> windowsMs = new ArrayList<>(List.of(5 * 60_000L, 15 * 60_000L, 60 * 60_000L));
  public long latenessMs = 2 * 60_000;
  /**
   * Grace of the windowed aggregations: how far behind its partition's stream time a delta may
   * arrive and still be counted. Not the allowed lateness: the by-team repartition topic
   * interleaves the deltas of every upstream task, and while catching up on a backlog those
   * tasks are hours apart in event time (with a grace of 2 min Kafka Streams dropped 72 % of
   * the deltas of a 200,000-event replay). Windows are still reported final at
   * stream time - allowed lateness (HttpApi), as ccpulse reports them.
   */
  public long graceMs = 24 * 3_600_000L;
  public long shortAbandonMs = 5_000;
  public long retentionMs = 10 * 60_000;

  private static final long HOUR = 3_600_000L, DAY = 24 * HOUR;

  /** How long an open interaction may go without an event before it expires. */
  public long expiryMs(Event.Channel channel) {
    switch (channel) {
      case VOICE:
      case CHAT: return 4 * HOUR;
      case EMAIL:
      case MESSAGING:
      case SOCIAL: return 14 * DAY;
      default: return DAY;
    }
  }

  /** "250ms", "10s", "5m", "1h", "3d". */
  public static long parseDuration(String text) {
    final String t = text.trim();
    final int unitAt = t.endsWith("ms") ? t.length() - 2 : t.length() - 1;
    final long n = Long.parseLong(t.substring(0, unitAt));
    switch (t.substring(unitAt)) {
      case "ms": return n;
      case "s": return n * 1000;
      case "m": return n * 60_000;
      case "h": return n * HOUR;
      case "d": return n * DAY;
      default: throw new IllegalArgumentException("not a duration: " + text);
    }
  }

  /** The label ccpulse gives a window: "5m", "1h", "90s". */
  public static String label(long ms) {
    if (ms % DAY == 0) return ms / DAY + "d";
    if (ms % HOUR == 0) return ms / HOUR + "h";
    if (ms % 60_000 == 0) return ms / 60_000 + "m";
    if (ms % 1000 == 0) return ms / 1000 + "s";
    return ms + "ms";
  }
}
