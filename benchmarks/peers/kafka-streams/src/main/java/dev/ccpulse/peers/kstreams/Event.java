// One ccpulse.v1 interaction event (DESIGN §2), the fields this peer needs, and its Serde: the
// Jackson streaming parser over the record bytes (the fastest way Jackson offers).
package dev.ccpulse.peers.kstreams;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.time.OffsetDateTime;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** An interaction event; immutable once parsed. */
public final class Event {
  public enum Type { QUEUED, ANSWERED, TRANSFERRED, ESCALATED, RESOLVED, CLOSED, ABANDONED, REOPENED }

  /** The contact channel; it sets the expiry of an open interaction (MetricOptions). */
  public enum Channel { VOICE, CHAT, EMAIL, MESSAGING, SOCIAL, OTHER }

  public final String eventId;
  public final Type type;
  public final long timeMs;
  public final String interactionId;
  public final String tenant;
  public final String team;
  public final Channel channel;

  Event(String eventId, Type type, long timeMs, String interactionId, String tenant, String team,
        Channel channel) {
    this.eventId = eventId;
    this.type = type;
    this.timeMs = timeMs;
    this.interactionId = interactionId;
    this.tenant = tenant;
    this.team = team;
    this.channel = channel;
  }

  /** "tenant/team": the aggregation key (teams are unique per tenant). */
  public String teamKey() {
    return tenant + "/" + team;
  }

  private static final JsonFactory JSON = new JsonFactory();

  /** Parses one record value; null when it is not a valid event (the caller counts it). */
  public static Event parse(byte[] bytes) {
    if (bytes == null) return null;
    String eventId = null, interactionId = null, team = null, tenant = "default";
    Type type = null;
    Channel channel = Channel.OTHER;
    long time = Long.MIN_VALUE;
    try (JsonParser p = JSON.createParser(bytes)) {
      if (p.nextToken() != JsonToken.START_OBJECT) return null;
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        final String name = p.currentName();
        final JsonToken v = p.nextToken();
        switch (name) {
          case "event_id": eventId = stringOrNull(p, v); break;
          case "type": type = typeOf(stringOrNull(p, v)); if (type == null) return null; break;
          case "time":
            if (v == JsonToken.VALUE_NUMBER_INT) time = p.getLongValue();
            else if (v == JsonToken.VALUE_STRING) time = parseRfc3339(p.getText());
            break;
          case "interaction_id": interactionId = stringOrNull(p, v); break;
          case "team": team = stringOrNull(p, v); break;
          case "tenant": tenant = stringOrNull(p, v); break;
          case "channel": channel = channelOf(stringOrNull(p, v)); if (channel == null) return null; break;
          default: p.skipChildren();
        }
      }
      if (t != JsonToken.END_OBJECT) return null;
    } catch (IOException | RuntimeException e) {
      return null;
    }
    if (eventId == null || type == null || time == Long.MIN_VALUE || interactionId == null
        || team == null || tenant == null) {
      return null;
    }
    return new Event(eventId, type, time, interactionId, tenant, team, channel);
  }

  private static String stringOrNull(JsonParser p, JsonToken v) throws IOException {
    return v == JsonToken.VALUE_STRING ? p.getText() : null;
  }

  private static Type typeOf(String s) {
    if (s == null) return null;
    switch (s) {
      case "queued": return Type.QUEUED;
      case "answered": return Type.ANSWERED;
      case "transferred": return Type.TRANSFERRED;
      case "escalated": return Type.ESCALATED;
      case "resolved": return Type.RESOLVED;
      case "closed": return Type.CLOSED;
      case "abandoned": return Type.ABANDONED;
      case "reopened": return Type.REOPENED;
      default: return null;
    }
  }

  private static Channel channelOf(String s) {
    if (s == null) return null;
    switch (s) {
      case "voice": return Channel.VOICE;
      case "chat": return Channel.CHAT;
      case "email": return Channel.EMAIL;
      case "messaging": return Channel.MESSAGING;
      case "social": return Channel.SOCIAL;
      case "other": return Channel.OTHER;
      default: return null;
    }
  }

  /** Epoch ms of an RFC 3339 time; fast path for "YYYY-MM-DDTHH:MM:SS[.fff]Z". */
  static long parseRfc3339(String s) {
    final int n = s.length();
    if ((n == 20 || n == 24) && s.charAt(n - 1) == 'Z' && s.charAt(4) == '-' && s.charAt(10) == 'T') {
      final int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
      final int h = digits(s, 11, 2), m = digits(s, 14, 2), sec = digits(s, 17, 2);
      final int ms = n == 24 ? digits(s, 20, 3) : 0;
      if (year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && h >= 0 && h < 24 && m >= 0
          && m < 60 && sec >= 0 && sec < 60 && ms >= 0 && (n == 20 || s.charAt(19) == '.')) {
        return ((daysFromCivil(year, month, day) * 24 + h) * 60 + m) * 60_000L + sec * 1000L + ms;
      }
    }
    return OffsetDateTime.parse(s).toInstant().toEpochMilli();
  }

  private static int digits(String s, int from, int count) {
    int v = 0;
    for (int i = from; i < from + count; ++i) {
      final char c = s.charAt(i);
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v;
  }

  // Howard Hinnant's days_from_civil.
  private static long daysFromCivil(int y, int m, int d) {
    y -= m <= 2 ? 1 : 0;
    final long era = (y >= 0 ? y : y - 399) / 400;
    final long yoe = y - era * 400;
    final long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    final long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
  }

  /** Deserialize-only Serde: invalid records become null values, counted by the fold. */
  public static Serde<Event> serde() {
    final Deserializer<Event> deserializer = (topic, data) -> parse(data);
    final Serializer<Event> serializer = (topic, event) -> {
      throw new UnsupportedOperationException("events are only read");
    };
    return Serdes.serdeFrom(serializer, deserializer);
  }
}
