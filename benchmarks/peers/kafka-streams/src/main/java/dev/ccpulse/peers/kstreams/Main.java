// Entry point of the Kafka Streams peer: parses options, builds the topology (TeamTopology),
// starts KafkaStreams and the HTTP API, and closes both on SIGTERM/SIGINT.
//
//   java -jar target/ccpulse-kstreams.jar --bootstrap HOST:PORT --topic TOPIC
//        [--application-id ID] [--state-dir DIR] [--properties FILE] [--http HOST:PORT]
//        [--url-file FILE] [--windowing slices|hopping] [--windows 5m,15m,1h] [--slice 10s] [--lateness 2m]
//        [--grace 24h] [--short-abandon 5s] [--retention 10m]
//
// Without --properties every Kafka Streams setting is its default; FILE (java.util.Properties)
// overrides any StreamsConfig, consumer or producer setting (e.g. ../tuned.properties).
package dev.ccpulse.peers.kstreams;

import java.io.FileReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;

public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    String bootstrap = null, topic = null, applicationId = "ccpulse-kstreams", stateDir = null;
    String propertiesFile = null, http = "127.0.0.1:0", urlFile = null, windowing = "slices";
    final MetricOptions options = new MetricOptions();
    for (int i = 0; i < args.length; ++i) {
      final String flag = args[i];
      if (i + 1 >= args.length) usage("missing value for " + flag);
      final String value = args[++i];
      switch (flag) {
        case "--bootstrap": bootstrap = value; break;
        case "--topic": topic = value; break;
        case "--application-id": applicationId = value; break;
        case "--state-dir": stateDir = value; break;
        case "--properties": propertiesFile = value; break;
        case "--http": http = value; break;
        case "--url-file": urlFile = value; break;
        case "--windowing": windowing = value; break;
        case "--windows":
          options.windowsMs = new ArrayList<>();
          for (String w : value.split(",")) options.windowsMs.add(MetricOptions.parseDuration(w));
          break;
        case "--slice": options.sliceMs = MetricOptions.parseDuration(value); break;
        case "--lateness": options.latenessMs = MetricOptions.parseDuration(value); break;
        case "--grace": options.graceMs = MetricOptions.parseDuration(value); break;
        case "--short-abandon": options.shortAbandonMs = MetricOptions.parseDuration(value); break;
        case "--retention": options.retentionMs = MetricOptions.parseDuration(value); break;
        default: usage("unknown option " + flag);
      }
    }
    if (bootstrap == null || topic == null) usage("--bootstrap and --topic are required");
    if (!windowing.equals("slices") && !windowing.equals("hopping")) usage("--windowing: slices or hopping");
    final boolean hopping = windowing.equals("hopping");
    for (long w : options.windowsMs) {
      if (w <= 0 || w % options.sliceMs != 0) usage("every window must be a multiple of --slice");
    }

    final Properties props = new Properties();
    if (propertiesFile != null) {
      try (Reader r = new FileReader(propertiesFile, StandardCharsets.UTF_8)) {
        props.load(r);
      }
    }
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    if (stateDir != null) props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);

    final Counters counters = new Counters();
    final HttpApi api = new HttpApi(http, options, hopping, counters);
    props.put(StreamsConfig.APPLICATION_SERVER_CONFIG, api.hostPort());
    final Topology topology = TeamTopology.build(topic, options, hopping, counters, props);
    final KafkaStreams streams = new KafkaStreams(topology, props);
    final CountDownLatch stopped = new CountDownLatch(1);
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("ccpulse-kstreams: stream thread failed: " + e);
      e.printStackTrace();
      return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
          .SHUTDOWN_CLIENT;
    });
    streams.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) stopped.countDown();
    });
    api.attach(streams);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close(Duration.ofSeconds(30));
      api.stop();
      stopped.countDown();
    }, "shutdown"));
    System.err.println("ccpulse-kstreams: " + topology.describe());
    streams.start();
    System.out.println(api.url());
    System.out.flush();
    if (urlFile != null) {
      final Path tmp = Path.of(urlFile + ".tmp");
      Files.writeString(tmp, api.url() + "\n");
      Files.move(tmp, Path.of(urlFile), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
    System.err.println("ccpulse-kstreams: consuming " + topic + " from " + bootstrap + " as " + applicationId
                       + "; API " + api.url());
    stopped.await();
    api.stop();
    System.exit(streams.state() == KafkaStreams.State.ERROR ? 1 : 0);
  }

  private static void usage(String message) {
    System.err.println("ccpulse-kstreams: " + message);
    System.err.println("usage: ccpulse-kstreams --bootstrap HOST:PORT --topic TOPIC [--application-id ID] "
                       + "[--state-dir DIR] [--properties FILE] [--http HOST:PORT] [--url-file FILE] [--windowing slices|hopping] "
                       + "[--windows 5m,15m,1h] [--slice 10s] [--lateness 2m] [--grace 24h] [--short-abandon 5s] [--retention 10m]");
    System.exit(2);
  }
}
