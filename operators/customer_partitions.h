// The customer tier of a team-keyed scale-out (DESIGN §6): one CustomerStage per input partition
// read here, each the team tier's channel of its partition. A partition's interactions, repeat
// contacts and the place where its records stand are its own, so they move with the partition to
// whichever instance reads it next (SavePartition / LoadPartition), and the team tier sees the
// channel continue there.
//
// Event time: each stage keeps its own watermark over its partition (its origins' channels when
// repartitioned), so whether an event is late does not depend on which instance reads it. A stage
// whose partition is idle is carried along by the others (to the smallest watermark of the live
// ones, or with every partition idle to the largest), as one watermark over every partition of
// the instance would be; its later events before that are late.
#ifndef CCPULSE_OPERATORS_CUSTOMER_PARTITIONS_H_
#define CCPULSE_OPERATORS_CUSTOMER_PARTITIONS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "operators/customer_stage.h"
#include "operators/options.h"
#include "operators/state_archive.h"
#include "operators/team_feed.h"
#include "schemas/event.h"

namespace ccpulse::operators {

// Worker-local; no I/O but through `send`, no clock.
class CustomerPartitions {
 public:
  struct Options {
    int team_partitions = 1;
    // Watermark channels per input partition: channel c is partition c / per, its c % per.
    int channels_per_partition = 1;
    // The team tier's channel of input partition `partition` (unique and stable across instances).
    std::function<uint32_t(int partition)> channel_of;
    std::function<void(int team_partition, std::string_view record)> send;
  };

  // `metrics` outlives the object.
  CustomerPartitions(const MetricOptions* metrics, Options options);

  // `event.position.partition` is its watermark channel.
  CustomerStage::Accepted OnEvent(const schemas::Event& event, int64_t now_ms);
  // A watermark channel assigned or removed; a partition's stage goes with its last channel.
  void Assign(int channel, int64_t now_ms);
  void Remove(int channel);

  // Moves each stage's watermark to what the input allows at `now_ms` and sends what it passed.
  // A stage whose watermark stands still says so every second (the team tier waits for it).
  void Advance(int64_t now_ms);
  // End of a finite input: every stage sends up to its largest event time.
  void Finish();
  // Every stage (at a clean stop), or those of `partitions` (before they move), stops sending
  // and will be back: the team tier waits for them. Nothing before a stage's first record.
  void Pause();
  void Pause(std::span<const int32_t> partitions);

  bool reads(int partition) const { return PartOf(partition) != nullptr; }
  // One partition's state; Load into a partition not read here yet (it is read from then on).
  void SavePartition(int partition, StateWriter& ar) const;
  void LoadPartition(int partition, StateReader& ar, int64_t now_ms);
  // Forgets a partition's stage (one that failed to load).
  void Drop(int partition);

  // Watermark of the stage of channel `channel`, or kNoWatermark.
  int64_t watermark(int channel) const;
  // The smallest watermark of the stages that have one (the slowest partition), or kNoWatermark.
  int64_t min_watermark() const;
  // Events this instance applied, found duplicate, late or too many, and redundant
  // transitions, since it started (the stages' own counters move with their partitions).
  const CustomerStage::Counters& counters() const { return counters_; }
  uint64_t redundant_total() const { return redundant_total_; }
  void ForEachStage(const std::function<void(const CustomerStage&)>& f) const {
    for (const auto& part : parts_) {
      if (part) f(part->stage);
    }
  }

 private:
  struct Part {
    Part(const MetricOptions* metrics, uint32_t channel_number, int team_partitions)
        : stage(metrics), feed(channel_number, team_partitions), channel(channel_number) {}
    CustomerStage stage;
    TeamFeedWriter feed;
    uint32_t channel;
    int64_t sent_end = INT64_MIN;  // slices before it are sent
    int64_t last_send_ms = 0;      // wall time of its last records
  };
  Part* PartOf(int partition) const {
    return partition >= 0 && static_cast<size_t>(partition) < parts_.size() ? parts_[partition].get() : nullptr;
  }
  Part& Make(int partition);
  void AdvancePart(Part& part, int64_t now_ms);
  void PausePart(Part* part);
  void SendUntil(Part& part, int64_t target_end);
  void SendRecords(Part& part, int64_t end, bool pause = false);

  const MetricOptions& metrics_;
  const Options options_;
  std::vector<std::unique_ptr<Part>> parts_;  // by input partition; null where not read here
  int64_t last_event_wall_ms_ = 0;
  // Advance walks every stage once per wall millisecond; in between, only the stage an event
  // went to (what its own watermark allows), unless events went to several.
  int64_t last_walk_ms_ = INT64_MIN;
  Part* touched_ = nullptr;
  bool walk_due_ = true;
  CustomerStage::Counters counters_;
  uint64_t redundant_total_ = 0;
  std::vector<std::string> records_;   // reused
  std::vector<Delivered> delivered_;  // reused
};

}  // namespace ccpulse::operators

#endif  // CCPULSE_OPERATORS_CUSTOMER_PARTITIONS_H_
