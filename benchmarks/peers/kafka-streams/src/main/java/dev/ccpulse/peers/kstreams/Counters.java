// Progress counters of the app, read by the HTTP API (/stats) and the benchmark harness.
package dev.ccpulse.peers.kstreams;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/** Thread-safe. */
public final class Counters {
  /** Input records seen by the fold (valid or not). */
  public final LongAdder consumed = new LongAdder();
  public final LongAdder invalid = new LongAdder();
  public final LongAdder late = new LongAdder();
  public final LongAdder duplicates = new LongAdder();
  public final LongAdder redundant = new LongAdder();
  public final LongAdder evicted = new LongAdder();
  /** Deltas the fold emitted, and deltas that reached the windowed aggregations. */
  public final LongAdder deltas = new LongAdder();
  public final LongAdder aggregated = new LongAdder();
  public final LongAccumulator maxEventTime = new LongAccumulator(Math::max, Long.MIN_VALUE);
  /** Stream time (largest record timestamp) per partition of the team-keyed repartition topic. */
  public final ConcurrentHashMap<Integer, AtomicLong> teamStreamTime = new ConcurrentHashMap<>();

  public void observeTeamRecord(int partition, long timestamp) {
    aggregated.increment();
    final AtomicLong t = teamStreamTime.computeIfAbsent(partition, p -> new AtomicLong(Long.MIN_VALUE));
    if (timestamp > t.get()) t.set(timestamp);  // one stream thread owns each partition
  }

  public long teamStreamTime(int partition) {
    final AtomicLong t = teamStreamTime.get(partition);
    return t == null ? Long.MIN_VALUE : t.get();
  }
}
