// The worker loop of `run` and `demo`: takes record batches from a RecordSource, decodes,
// applies them to its Engine, dead-letters what cannot be applied, commits only offsets whose
// effects are applied (and whose dead letters are durable), and calls back at every boundary
// and every tick (snapshot publication). Knows nothing about Kafka.
#ifndef CCPULSE_PIPELINE_STREAM_H_
#define CCPULSE_PIPELINE_STREAM_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "operators/engine.h"
#include "pipeline/checkpoint.h"
#include "pipeline/source.h"
#include "schemas/record_decoder.h"

namespace ccpulse {


// Engine self-metrics of one worker; read on the worker thread (and copied into snapshots).
struct StreamCounters {
  uint64_t records = 0;
  uint64_t decoded = 0;
  uint64_t invalid_team_feed = 0;  // team feed records that did not decode (dead-lettered)
  std::array<uint64_t, schemas::kDecodeErrorCount> invalid{};
  uint64_t late = 0;
  uint64_t too_many_events = 0;
  uint64_t dead_letters_queued = 0;
  uint64_t dead_letter_write_failures = 0;
  uint64_t commits = 0;
  uint64_t batches = 0;
  std::array<uint64_t, kLatencyBucketsSeconds.size() + 1> latency_buckets{};
  double latency_sum_s = 0;
  uint64_t latency_count = 0;
};

class StreamProcessor {
 public:
  struct Options {
    operators::MetricOptions metrics;
    int64_t every_ms = operators::kMinuteMs;  // boundary callback period (event time)
    int64_t max_future_ms = operators::kDayMs;
    size_t max_record_bytes = 1 << 20;
    int64_t commit_interval_ms = 1000;
    int64_t tick_interval_ms = 5;  // publish at most this often (and at least every 100 ms)
    // Keep every record's processing latency (ms) for the benchmarks.
    bool keep_latency_samples = false;
    // Wire format per topic (others are ccpulse.v1) and the team map of the platform formats.
    std::map<std::string, schemas::RecordFormat, std::less<>> topic_formats;
    schemas::TeamMap team_map;
    // Checkpoints (DESIGN §6): when set, the state is saved every checkpoint_interval_ms, on
    // revoke and at shutdown, and offsets are committed only once a checkpoint covers them.
    CheckpointWriter* checkpoints = nullptr;
    int64_t checkpoint_interval_ms = 10000;
    // Either tier of a team-keyed scale-out (split.role kTeams or kCustomers) with
    // `checkpoints`: each input partition's state (a team partition's, an input partition's
    // customer stage) in its own checkpoints, written in parts by `checkpoints` (a write to a store fenced by the
    // partition's new reader fails alone) and restored when the partition is assigned, so that
    // it moves with the partition. on_takeover and on_standby are then unused.
    PartitionCheckpoints* partition_checkpoints = nullptr;
    // Encode checkpoints in a forked copy of the process (ForkedEncoding) so the worker pauses
    // for the fork only; false, or when fork fails: the worker encodes them itself.
    bool fork_snapshots = true;
    // Reading a repartitioned topic: the input partitions ("topic[3]") its records come from.
    // The watermark then holds per (partition, origin) channel, so an input partition whose
    // repartition stage is behind holds the watermark back as it would unrepartitioned.
    std::vector<std::string> origins;
    // With checkpoints: when partitions are assigned to a processor that owns none and holds no
    // state (at start), `on_takeover` restores the newest checkpoint into the engine (an error
    // stops Run). With `on_standby` (an active instance and standbys sharing their checkpoints),
    // a revoke that leaves it owning none, after the revoke's checkpoint, replaces the engine
    // by a fresh one and calls `on_standby`: the next assignment restores whatever checkpoint
    // is newest then, perhaps another instance's.
    std::function<absl::Status(StreamProcessor&)> on_takeover;
    std::function<void(StreamProcessor&)> on_standby;
    // Team-keyed scale-out (DESIGN §6): where the engine's stages run. kCustomers: the engine's
    // records go to `team_feed` (split.send, channel_of and channels_per_partition are set here:
    // a partition's channel is its number in the input topic), and a checkpoint is written only once
    // the records sent before it are durable, so that a restore never skips one. kTeams: the
    // input records are those records, not events.
    operators::Engine::Split split;
    TeamFeedSink* team_feed = nullptr;
  };
  using BoundaryFn = std::function<void(operators::Engine&, operators::TimeMs boundary)>;
  // Called at most tick_interval_ms apart, after a batch: publish snapshots here. Returns the
  // wall time (ms) at which what it published became visible.
  using TickFn = std::function<int64_t(operators::Engine&, const StreamProcessor&)>;

  StreamProcessor(Options options, RecordSource* source, DeadLetterSink* dead_letters,
                  BoundaryFn on_boundary, TickFn on_tick);

  // Processes until `stop` becomes true or a takeover fails: finishes the batch in hand, flushes
  // dead letters and commits. Returns an error only for conditions that need a restart.
  absl::Status Run(const std::atomic<bool>& stop);

  // Restores a checkpoint into the (fresh) engine: state, and the offsets to continue from.
  // The source must start each partition at the checkpoint's offset and give partitions the
  // same dense indexes (names are checked). Restored during an assignment (Options::on_takeover),
  // the checkpoint's partitions the processor is not given are dropped.
  absl::Status Restore(const Checkpoint& checkpoint);
  // Saves the state now and hands it to the writer (once dead letters before its offsets are
  // durable); with `wait`, until it is durable and its offsets committed. False when the writer
  // is busy (or, with `wait`, when it failed or timed out).
  bool TakeCheckpoint(bool wait);
  const CheckpointStats& checkpoint_stats() const { return checkpoint_stats_; }

  // Processes one batch (or control message) from the source; false when none came.
  bool Step(int poll_timeout_ms);
  // Commits what is applied (asynchronously unless `sync`).
  void CommitApplied(bool sync);

  const StreamCounters& counters() const { return counters_; }
  // Replaced by a fresh engine when the processor stands by (Options::on_standby).
  operators::Engine& engine() { return *engine_; }
  const operators::Engine& engine() const { return *engine_; }
  // Partitions assigned (or sending records) and not revoked.
  int owned_partitions() const { return owned_count_; }
  // An assignment (perhaps of nothing: a standby) has come, and its restore is done.
  bool assigned_once() const { return assigned_once_; }
  // Consumer lag per partition name (high watermark - next offset to apply).
  std::vector<std::pair<std::string, int64_t>> Lag() const;
  const std::vector<int64_t>& latency_samples_ms() const { return latency_samples_; }
  int64_t last_tick_ms() const { return last_tick_ms_; }
  int64_t last_input_ms() const { return last_input_ms_; }
  DeadLetterSink* dead_letters() const { return dead_letters_; }

 private:
  void Process(SourceBatch& batch, int64_t now_ms);
  void DeadLetter(const SourceRecord& record, std::string_view reason, std::string_view message);
  void Tick(int64_t now_ms);
  // Hands the saved checkpoint to the writer once its dead letters are durable; picks up the
  // offsets of the newest durable one.
  void AdvanceCheckpoints();
  // The decoder of the partition's topic, created on first use.
  schemas::RecordDecoder& DecoderFor(int32_t partition);
  void Own(int32_t partition);
  void Assign(const std::vector<int32_t>& partitions, int64_t now_ms);
  std::unique_ptr<operators::Engine> MakeEngine();
  // Applies the events of one input record (dead-letters what cannot be applied); events
  // after `latest_ms` are refused.
  void ProcessEvents(const SourceRecord& record, int64_t latest_ms, int64_t now_ms);
  // kTeams: applies one record of the team feed.
  void ProcessTeamFeed(const SourceRecord& record, int64_t now_ms);
  void Revoke(const std::vector<int32_t>& partitions, bool lost);
  // Options::partition_checkpoints: restores what was loaded for a partition being assigned.
  absl::Status RestorePartition(int32_t partition, int64_t now_ms);

  Options options_;
  RecordSource* source_;
  DeadLetterSink* dead_letters_;
  BoundaryFn on_boundary_;
  TickFn on_tick_;
  std::unique_ptr<operators::Engine> engine_;
  std::vector<char> owned_;  // by dense index
  int owned_count_ = 0;
  bool assigned_once_ = false;
  bool fresh_ = true;        // no record applied, nothing restored (since start or standing by)
  const std::vector<int32_t>* assigning_ = nullptr;  // the partitions of a takeover under way
  absl::Status fatal_;       // a failed takeover: Run stops
  // One decoder per format in use; partition_decoders_[p] points at the one of p's topic.
  std::array<std::unique_ptr<schemas::RecordDecoder>, schemas::kRecordFormatCount> decoders_;
  std::vector<schemas::RecordDecoder*> partition_decoders_;
  schemas::DecodedRecord decoded_;
  StreamCounters counters_;
  absl::flat_hash_map<int32_t, int64_t> applied_next_;    // partition -> next offset to apply
  absl::flat_hash_map<int32_t, int64_t> committed_next_;  // what was last committed
  std::vector<std::pair<int32_t, int64_t>> high_watermarks_;
  int32_t partition_count_ = 0;  // dense indexes seen: 0 .. partition_count_ - 1
  // Watermark channel of a record: partition * ChannelsPer() + origin index, or the last
  // channel for an unknown origin (without origins: the partition).
  int32_t ChannelOf(const SourceRecord& record);
  // A checkpoint's repartitioned origins are this run's; else an error saying what changed.
  absl::Status SameOrigins(const Checkpoint& checkpoint) const;
  // Channels per partition: one per origin and one for unknown origins (1 without origins).
  int32_t ChannelsPer() const {
    return options_.origins.empty() ? 1 : static_cast<int32_t>(options_.origins.size()) + 1;
  }
  absl::flat_hash_map<std::string, int32_t> origin_index_;
  absl::flat_hash_set<std::string> unknown_origins_;  // reported once each
  // Checkpoints: the one saved and waiting for its dead letters, the one being written, and
  // the offsets of the newest durable one (what may be committed).
  struct SavedCheckpoint {
    uint64_t sequence = 0;
    std::vector<CheckpointWriter::Part> parts;
    std::vector<int32_t> part_partitions;  // Options::partition_checkpoints: each part's partition
    absl::flat_hash_map<int32_t, int64_t> offsets;
    uint64_t feed_sent = 0;  // team feed records sent before it
  };
  std::optional<SavedCheckpoint> saved_;
  std::optional<SavedCheckpoint> writing_;
  absl::flat_hash_map<int32_t, int64_t> durable_next_;
  uint64_t durable_sequence_ = 0;
  uint64_t checkpoint_sequence_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  CheckpointStats checkpoint_stats_;
  bool fork_failure_reported_ = false;  // once
  int64_t last_commit_ms_ = 0;
  int64_t last_tick_ms_ = 0;
  int64_t last_lag_ms_ = 0;
  int64_t last_input_ms_ = 0;
  // Record timestamps applied since the last tick, for the latency histogram.
  std::vector<int64_t> pending_latency_ts_;
  std::vector<int64_t> latency_samples_;
};

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_STREAM_H_
