// The Kafka Streams topology, in the DSL with windowed aggregations on state stores:
//
//   events (keyed by customer/interaction, event-time timestamps)
//     -> interaction-fold: a processor over the "interactions" key-value store -> Delta per event
//     -> repartition by team ("by-team")
//     -> windowing "slices" (the default):
//          groupByKey().windowedBy(tumbling window of one slice, grace: see MetricOptions.graceMs)
//          .aggregate(...) into the window store "team-slices"; a window of length L ending at E
//          is the sum of the slices starting in [E - L, E), read by interactive queries (the
//          same slices ccpulse builds its windows from)
//        windowing "hopping" (the textbook mapping, far slower: every delta updates L / slice
//        windows per window length, 480 for 5m + 15m + 1h):
//          per L: groupByKey().windowedBy(hopping window of size L advancing by the slice,
//          same grace).aggregate(...) into the window store "team-<L>"
//
// Epoch-aligned windows advancing by the 10 s slice are exactly ccpulse's windows: the window
// ending at slice boundary E holds the events in [E - L, E).
package dev.ccpulse.peers.kstreams;

import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;

public final class TeamTopology {
  private TeamTopology() {}

  public static final String SLICE_STORE = "team-slices";

  public static String storeName(long windowMs) {
    return "team-" + MetricOptions.label(windowMs);
  }

  /** Event time from the payload (the record timestamp is when it was produced). */
  static final class EventTime implements TimestampExtractor {
    @Override
    public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
      if (record.value() instanceof Event) return ((Event) record.value()).timeMs;
      // Invalid record (null value): keep it in order; the fold counts and drops it.
      return record.timestamp() >= 0 ? record.timestamp() : Math.max(0, partitionTime);
    }
  }

  /** Pass-through that records the team partitions' stream time (for the API's windows_end). */
  static final class TeamStreamTime implements FixedKeyProcessor<String, Delta, Delta> {
    private final Counters counters;
    private FixedKeyProcessorContext<String, Delta> context;

    TeamStreamTime(Counters counters) {
      this.counters = counters;
    }

    @Override
    public void init(FixedKeyProcessorContext<String, Delta> context) {
      this.context = context;
    }

    @Override
    public void process(FixedKeyRecord<String, Delta> record) {
      counters.observeTeamRecord(context.recordMetadata().map(m -> m.partition()).orElse(0), record.timestamp());
      context.forward(record);
    }
  }

  public static Topology build(String topic, MetricOptions options, boolean hopping, Counters counters,
                               Properties props) {
    final StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(InteractionFold.STORE),
                                                      Serdes.String(), InteractionFold.stateSerde())
                              .withCachingEnabled());
    final KStream<String, Event> events = builder.stream(
        topic, Consumed.with(Serdes.String(), Event.serde()).withTimestampExtractor(new EventTime()).withName("events"));
    final KStream<String, Delta> byTeam =
        events.process(() -> new InteractionFold(options, counters), Named.as("interaction-fold"), InteractionFold.STORE)
            .repartition(Repartitioned.with(Serdes.String(), Delta.serde()).withName("by-team"))
            .processValues(() -> new TeamStreamTime(counters), Named.as("team-stream-time"));
    final KGroupedStream<String, Delta> teams = byTeam.groupByKey(Grouped.with(Serdes.String(), Delta.serde()));
    final Duration grace = Duration.ofMillis(options.graceMs);
    final Duration slice = Duration.ofMillis(options.sliceMs);
    if (!hopping) {
      final long longest = options.windowsMs.stream().mapToLong(Long::longValue).max().orElse(options.sliceMs);
      teams.windowedBy(TimeWindows.ofSizeAndGrace(slice, grace))
          .aggregate(TeamCounts::new, (team, delta, counts) -> counts.add(delta), Named.as(SLICE_STORE + "-aggregate"),
                     Materialized.<String, TeamCounts, WindowStore<Bytes, byte[]>>as(SLICE_STORE)
                         .withKeySerde(Serdes.String())
                         .withValueSerde(TeamCounts.serde())
                         .withRetention(Duration.ofMillis(longest + options.graceMs)));
      return builder.build(props);
    }
    for (long windowMs : options.windowsMs) {
      teams.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(windowMs), grace).advanceBy(slice))
          .aggregate(TeamCounts::new, (team, delta, counts) -> counts.add(delta),
                     Named.as(storeName(windowMs) + "-aggregate"),
                     Materialized.<String, TeamCounts, WindowStore<Bytes, byte[]>>as(storeName(windowMs))
                         .withKeySerde(Serdes.String())
                         .withValueSerde(TeamCounts.serde())
                         .withRetention(Duration.ofMillis(windowMs + options.graceMs)));
    }
    return builder.build(props);
  }
}
