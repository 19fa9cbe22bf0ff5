// Prometheus text exposition (format 0.0.4): engine self-metrics through prometheus-cpp, and
// the per-team series rendered straight from the latest snapshot (one family per metric, not
// one prometheus-cpp object per series, so 10,000 teams stay cheap).
#ifndef CCPULSE_PIPELINE_METRICS_EXPOSITION_H_
#define CCPULSE_PIPELINE_METRICS_EXPOSITION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "operators/snapshot.h"
#include "pipeline/alerting/dispatcher.h"
#include "pipeline/stream.h"

namespace ccpulse::metrics {

// Cumulative counts of the repartition stage (kafka::Repartitioner).
struct RepartitionCounts {
  uint64_t forwarded = 0;  // records written to the internal topic
  uint64_t unkeyed = 0;    // of which no key was found (forwarded unkeyed, dead-lettered downstream)
  uint64_t too_large = 0;  // not forwarded: over message.max.bytes, dead-lettered by the stage
  uint64_t committed = 0;  // transactions
  uint64_t aborted = 0;
  std::vector<uint64_t> delay_buckets;  // Repartitioner::delay_buckets
  double delay_sum_s = 0;
};

// The team feed (kafka.team_stage): records a customer instance sent (and could not deliver),
// records a team instance received, and contributions it dropped as sent before or too late.
struct TeamFeedCounts {
  uint64_t sent = 0, failed = 0, received = 0, repeated = 0, late = 0, gaps = 0;
};

// Self-metrics of the process (DESIGN §4 last paragraph). Updated by the worker at each tick
// with deltas of its counters; read by scrapes. Thread-safe (prometheus-cpp metrics are).
class SelfMetrics {
 public:
  SelfMetrics();
  // Worker thread.
  void Update(const StreamCounters& stream, const operators::Engine& engine,
              const std::vector<std::pair<std::string, int64_t>>& lag, uint64_t dead_letters_delivered,
              uint64_t dead_letters_failed);
  // Alert delivery counters and teams missing from the roster.
  void UpdateAlerts(const alerting::AlertDispatcher& dispatcher, size_t unrostered_teams);
  // Checkpoint counts, size and the worker's pause (run with checkpoints).
  void UpdateCheckpoints(const CheckpointStats& stats);
  // Repartition stage counts (run with kafka.repartition); from any one thread.
  void UpdateRepartition(const RepartitionCounts& counts);
  // Team feed counts (run with kafka.team_stage).
  void UpdateTeamFeed(const TeamFeedCounts& counts);
  // Team tier: where each channel's (input partition's) slices end, per team partition (name)
  // and channel; the series of a channel no longer read here go away.
  struct ChannelEnd {
    std::string partition;
    uint32_t channel = 0;
    int64_t end_ms = 0;
  };
  void UpdateChannelEnds(const std::vector<ChannelEnd>& ends);
  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter* consumed_;
  prometheus::Counter* decoded_;
  prometheus::Counter* applied_;
  prometheus::Counter* late_;
  prometheus::Counter* duplicates_;
  prometheus::Counter* dead_letters_delivered_;
  prometheus::Counter* dead_letter_failures_;
  prometheus::Family<prometheus::Counter>* invalid_;
  prometheus::Family<prometheus::Gauge>* lag_;
  std::map<std::string, prometheus::Gauge*> lag_gauges_;
  prometheus::Histogram* latency_;
  prometheus::Gauge* interactions_held_;
  prometheus::Gauge* teams_;
  prometheus::Gauge* memory_bytes_;
  prometheus::Gauge* alerts_firing_;
  prometheus::Gauge* unrostered_;
  prometheus::Family<prometheus::Counter>* notifications_;
  prometheus::Family<prometheus::Counter>* checkpoints_ = nullptr;
  prometheus::Counter* checkpoint_pause_ = nullptr;
  prometheus::Gauge* checkpoint_bytes_ = nullptr;
  prometheus::Gauge* checkpoint_last_pause_ = nullptr;
  prometheus::Gauge* checkpoint_last_write_ = nullptr;
  CheckpointStats last_checkpoints_;
  prometheus::Family<prometheus::Counter>* repartitioned_ = nullptr;
  prometheus::Family<prometheus::Counter>* repartition_transactions_ = nullptr;
  prometheus::Histogram* repartition_delay_ = nullptr;
  RepartitionCounts last_repartition_;
  prometheus::Family<prometheus::Counter>* team_feed_records_ = nullptr;
  prometheus::Family<prometheus::Counter>* team_feed_dropped_ = nullptr;
  TeamFeedCounts last_team_feed_;
  prometheus::Family<prometheus::Gauge>* channel_ends_ = nullptr;
  std::map<std::pair<std::string, uint32_t>, prometheus::Gauge*> channel_end_gauges_;
  std::map<std::string, uint64_t> last_notifications_;
  StreamCounters last_stream_;
  uint64_t last_applied_ = 0, last_duplicates_ = 0, last_delivered_ = 0, last_failed_ = 0;
};

// Appends the whole /metrics body: self-metrics, then per-team series of `snapshot` (may be
// null before the first one), then snapshot age at `now_ms`.
void RenderMetrics(const SelfMetrics& self, const operators::MetricsSnapshot* snapshot,
                   int64_t now_ms, std::string* out);

}  // namespace ccpulse::metrics

#endif  // CCPULSE_PIPELINE_METRICS_EXPOSITION_H_
