// The app's HTTP API (JDK HttpServer, one thread), reading state stores through interactive
// queries, the way the Kafka Streams documentation recommends exposing state:
//   GET /stats                      progress counters and the KafkaStreams state
//   GET /api/v1/teams/{tenant}/{team}
//                                   windows_end (the newest closed window end of the team's
//                                   partition, as ccpulse's API reports it) and the team's
//                                   metrics for the windows ending there
//   GET /api/v1/final?end=MS        JSON Lines: every team's windows ending at MS
package dev.ccpulse.peers.kstreams;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/** Handlers run on the server's own thread; the stores are read-only views. */
public final class HttpApi {
  private volatile KafkaStreams streams;
  private final MetricOptions options;
  private final boolean hopping;
  private final Counters counters;
  private final HttpServer server;

  public HttpApi(String address, MetricOptions options, boolean hopping, Counters counters) throws IOException {
    this.options = options;
    this.hopping = hopping;
    this.counters = counters;
    final int colon = address.lastIndexOf(':');
    server = HttpServer.create(new InetSocketAddress(address.substring(0, colon),
                                                     Integer.parseInt(address.substring(colon + 1))), 16);
    server.setExecutor(Executors.newSingleThreadExecutor());
    server.createContext("/stats", ex -> respond(ex, 200, stats()));
    server.createContext("/api/v1/teams/", this::team);
    server.createContext("/api/v1/final", this::finalWindows);
    server.start();
  }

  /** The instance whose stores the handlers read (created after the server: it needs our port). */
  public void attach(KafkaStreams streams) {
    this.streams = streams;
  }

  /** host:port, for application.server (interactive queries need it to locate a key). */
  public String hostPort() {
    return server.getAddress().getHostString() + ":" + server.getAddress().getPort();
  }

  public String url() {
    return "http://" + server.getAddress().getHostString() + ":" + server.getAddress().getPort();
  }

  public void stop() {
    server.stop(0);
  }

  private String stats() {
    final KafkaStreams s = streams;
    return "{\"state\":\"" + (s == null ? "CREATED" : s.state()) + "\",\"consumed\":" + counters.consumed.sum()
        + ",\"invalid\":" + counters.invalid.sum() + ",\"late\":" + counters.late.sum()
        + ",\"duplicates\":" + counters.duplicates.sum() + ",\"redundant\":" + counters.redundant.sum()
        + ",\"evicted\":" + counters.evicted.sum() + ",\"deltas\":" + counters.deltas.sum()
        + ",\"aggregated\":" + counters.aggregated.sum() + ",\"max_event_time\":" + counters.maxEventTime.get()
        + ",\"dropped_records\":" + droppedRecords(s) + "}\n";
  }

  /** Kafka Streams' own count of records it dropped (late for a closed window, bad timestamps). */
  private static long droppedRecords(KafkaStreams s) {
    if (s == null) return 0;
    double sum = 0;
    for (Map.Entry<MetricName, ? extends Metric> m : s.metrics().entrySet()) {
      if (m.getKey().name().equals("dropped-records-total") && m.getKey().group().equals("stream-task-metrics")) {
        sum += ((Number) m.getValue().metricValue()).doubleValue();
      }
    }
    return (long) sum;
  }

  private ReadOnlyWindowStore<String, TeamCounts> store(String name) {
    return streams.store(StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.<String, TeamCounts>windowStore()));
  }

  private String anyStore() {
    return hopping ? TeamTopology.storeName(options.windowsMs.get(0)) : TeamTopology.SLICE_STORE;
  }

  /** One team's window of length windowMs ending at end: [end - windowMs, end). */
  private TeamCounts read(String key, long end, long windowMs) {
    final TeamCounts sum = new TeamCounts();
    if (hopping) {
      final TeamCounts c = store(TeamTopology.storeName(windowMs)).fetch(key, end - windowMs);
      return c == null ? sum : sum.merge(c);
    }
    try (WindowStoreIterator<TeamCounts> it = store(TeamTopology.SLICE_STORE)
             .fetch(key, Instant.ofEpochMilli(end - windowMs), Instant.ofEpochMilli(end - options.sliceMs))) {
      while (it.hasNext()) sum.merge(it.next().value);
    }
    return sum;
  }

  /** Every team's window of length windowMs ending at end, by team key. */
  private Map<String, TeamCounts> readAll(long end, long windowMs) {
    final Map<String, TeamCounts> out = new TreeMap<>();
    final boolean slices = !hopping;
    final Instant from = Instant.ofEpochMilli(end - windowMs);
    final Instant to = slices ? Instant.ofEpochMilli(end - options.sliceMs) : from;
    try (KeyValueIterator<Windowed<String>, TeamCounts> it =
             store(slices ? TeamTopology.SLICE_STORE : TeamTopology.storeName(windowMs)).fetchAll(from, to)) {
      while (it.hasNext()) {
        final KeyValue<Windowed<String>, TeamCounts> kv = it.next();
        out.computeIfAbsent(kv.key.key(), k -> new TeamCounts()).merge(kv.value);
      }
    }
    return out;
  }

  private void team(HttpExchange ex) throws IOException {
    final String rest = ex.getRequestURI().getRawPath().substring("/api/v1/teams/".length());
    final int slash = rest.indexOf('/');
    if (slash <= 0) {
      respond(ex, 404, "{\"error\":\"expected /api/v1/teams/{tenant}/{team}\"}\n");
      return;
    }
    final String key = URLDecoder.decode(rest.substring(0, slash), StandardCharsets.UTF_8) + "/"
        + URLDecoder.decode(rest.substring(slash + 1), StandardCharsets.UTF_8);
    try {
      final int partition = streams.queryMetadataForKey(anyStore(), key, Serdes.String().serializer()).partition();
      final long streamTime = counters.teamStreamTime(partition);
      if (streamTime == Long.MIN_VALUE) {
        respond(ex, 404, "{\"error\":\"no events for the team's partition " + partition + " yet\"}\n");
        return;
      }
      final long end = Math.floorDiv(streamTime - options.latenessMs, options.sliceMs) * options.sliceMs;
      final StringBuilder out = new StringBuilder(512);
      out.append("{\"windows_end\":\"").append(Instant.ofEpochMilli(end)).append("\",\"team\":\"").append(key)
          .append("\",\"windows\":{");
      boolean first = true;
      for (long windowMs : options.windowsMs) {
        final TeamCounts c = read(key, end, windowMs);
        if (!first) out.append(',');
        first = false;
        out.append('"').append(MetricOptions.label(windowMs)).append("\":{");
        c.appendJson(out);
        out.append('}');
      }
      out.append("}}\n");
      respond(ex, 200, out.toString());
    } catch (RuntimeException e) {  // not RUNNING yet (rebalancing, restoring)
      respond(ex, 503, "{\"error\":\"" + e.getClass().getSimpleName() + "\"}\n");
    }
  }

  private void finalWindows(HttpExchange ex) throws IOException {
    final String query = ex.getRequestURI().getQuery();
    if (query == null || !query.startsWith("end=")) {
      respond(ex, 400, "{\"error\":\"expected ?end=EPOCH_MS\"}\n");
      return;
    }
    final long end = Long.parseLong(query.substring(4));
    final StringBuilder out = new StringBuilder(1 << 20);
    try {
      for (long windowMs : options.windowsMs) {
        for (Map.Entry<String, TeamCounts> team : readAll(end, windowMs).entrySet()) {
          final String key = team.getKey();
          final int slash = key.indexOf('/');
          out.append("{\"tenant\":\"").append(key, 0, slash).append("\",\"team\":\"").append(key.substring(slash + 1))
              .append("\",\"window\":\"").append(MetricOptions.label(windowMs)).append("\",\"end\":\"")
              .append(Instant.ofEpochMilli(end)).append("\",");
          team.getValue().appendJson(out);
          out.append("}\n");
        }
      }
    } catch (RuntimeException e) {
      respond(ex, 503, "{\"error\":\"" + e + "\"}\n");
      return;
    }
    respond(ex, 200, out.toString());
  }

  private static void respond(HttpExchange ex, int status, String body) throws IOException {
    final byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(bytes);
    }
  }
}
