// The customer tier's stage per input partition; see customer_partitions.h.
#include "operators/customer_partitions.h"

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/check.h"
#include "pipeline/window/watermark.h"

namespace ccpulse::operators {
namespace {

constexpr int64_t kNoWatermark = window::WatermarkTracker::kNoWatermark;
// Contributions of one team partition in one team feed record (~700 kB at most).
constexpr size_t kMaxFeedContributions = 16384;
// A stage whose watermark stands still says so this often (wall clock) for as long as it owns
// its partition: the team stages then wait for it (only it can move its slices' end), rather
// than go on and drop what it sends later as late (its expiries and repeat-window verdicts). One
// that stops (crashed, or moved) idles out there after idle_partition, or is held after a pause.
constexpr int64_t kFeedHeartbeatMs = 1000;

}  // namespace

CustomerPartitions::CustomerPartitions(const MetricOptions* metrics, Options options)
    : metrics_(*metrics), options_(std::move(options)) {
  CCPULSE_CHECK(options_.send != nullptr && options_.channel_of != nullptr && options_.channels_per_partition > 0,
                "a customer tier knows its channels and sends its slices somewhere");
}

CustomerPartitions::Part& CustomerPartitions::Make(int partition) {
  CCPULSE_CHECK(partition >= 0, "input partitions are numbered from 0");
  if (static_cast<size_t>(partition) >= parts_.size()) parts_.resize(static_cast<size_t>(partition) + 1);
  auto& part = parts_[static_cast<size_t>(partition)];
  if (!part) part = std::make_unique<Part>(&metrics_, options_.channel_of(partition), options_.team_partitions);
  return *part;
}

CustomerStage::Accepted CustomerPartitions::OnEvent(const schemas::Event& event, int64_t now_ms) {
  const int channel = std::max(0, event.position.partition);
  Part& part = Make(channel / options_.channels_per_partition);
  if (touched_ != &part) walk_due_ = walk_due_ || touched_ != nullptr;
  touched_ = &part;
  const uint64_t redundant = part.stage.interactions().redundant_total();
  const CustomerStage::Accepted accepted = part.stage.OnEvent(event, channel % options_.channels_per_partition, now_ms);
  // Counted as seen (a re-fold that takes one back, perhaps counted in another process, is not
  // subtracted: the total never goes back).
  const uint64_t now_redundant = part.stage.interactions().redundant_total();
  if (now_redundant > redundant) redundant_total_ += now_redundant - redundant;
  switch (accepted) {
    case CustomerStage::Accepted::kApplied:
      ++counters_.applied;
      // The first event after every partition was silent for idle_partition (a broker outage,
      // a paused producer): every stage gets idle_partition again before it is left behind.
      if (now_ms - last_event_wall_ms_ >= metrics_.idle_partition_ms) {
        for (const auto& p : parts_) {
          if (p) p->stage.Wake(now_ms);
        }
      }
      last_event_wall_ms_ = now_ms;
      break;
    case CustomerStage::Accepted::kDuplicate: ++counters_.duplicate_ids; break;
    case CustomerStage::Accepted::kLate: ++counters_.late; break;
    case CustomerStage::Accepted::kTooManyEvents: ++counters_.too_many_events; break;
  }
  return accepted;
}

void CustomerPartitions::Assign(int channel, int64_t now_ms) {
  walk_due_ = true;
  Make(channel / options_.channels_per_partition).stage.AssignPartition(channel % options_.channels_per_partition, now_ms);
}

void CustomerPartitions::Remove(int channel) {
  const int partition = channel / options_.channels_per_partition;
  Part* part = PartOf(partition);
  if (part == nullptr) return;
  part->stage.RemovePartition(channel % options_.channels_per_partition);
  if (!part->stage.owns_partitions()) Drop(partition);
}

void CustomerPartitions::Drop(int partition) {
  Part* part = PartOf(partition);
  if (part == nullptr) return;
  if (touched_ == part) touched_ = nullptr;
  walk_due_ = true;
  parts_[static_cast<size_t>(partition)].reset();
}

void CustomerPartitions::Advance(int64_t now_ms) {
  if (now_ms == last_walk_ms_ && !walk_due_) {
    // Within the same wall millisecond nothing idles out and no heartbeat is due: what changed is
    // the stage the event went to (its own watermark decides whether its next event is late).
    if (touched_ != nullptr) AdvancePart(*touched_, now_ms);
    touched_ = nullptr;
    return;
  }
  last_walk_ms_ = now_ms;
  walk_due_ = false;
  touched_ = nullptr;
  // Where the idle stages are carried: the smallest largest event time of the live stages, or
  // with none live the largest of all; nowhere while a live one has sent nothing yet.
  int64_t live_min = INT64_MAX;
  int64_t largest = kNoWatermark;
  for (const auto& part : parts_) {
    if (!part) continue;
    largest = std::max(largest, part->stage.max_event_time());
    live_min = std::min(live_min, part->stage.LiveMaxTime(now_ms));
  }
  const int64_t basis = live_min != INT64_MAX ? live_min : largest;
  const int64_t carry = basis == kNoWatermark ? kNoWatermark : basis - metrics_.allowed_lateness_ms;
  for (const auto& part : parts_) {
    if (!part) continue;
    if (carry != kNoWatermark && part->stage.LiveMaxTime(now_ms) == INT64_MAX) part->stage.CarryTo(carry);
    AdvancePart(*part, now_ms);
  }
}

void CustomerPartitions::AdvancePart(Part& part, int64_t now_ms) {
  const int64_t target_end = part.stage.Advance(now_ms);
  if (target_end != INT64_MIN && target_end > part.sent_end) {
    SendUntil(part, target_end);
    part.last_send_ms = now_ms;
  } else if (part.sent_end != INT64_MIN && now_ms - part.last_send_ms >= kFeedHeartbeatMs &&
             part.stage.owns_partitions()) {
    SendRecords(part, part.sent_end);  // nothing new: an empty range at the end
    part.last_send_ms = now_ms;
  }
}

void CustomerPartitions::Finish() {
  for (const auto& part : parts_) {
    if (!part) continue;
    const int64_t target_end = part->stage.AdvanceToEnd();
    if (target_end != INT64_MIN) SendUntil(*part, target_end);
  }
}

void CustomerPartitions::PausePart(Part* part) {
  if (part != nullptr && part->sent_end != INT64_MIN) SendRecords(*part, part->sent_end, /*pause=*/true);
}

void CustomerPartitions::Pause() {
  for (const auto& part : parts_) PausePart(part.get());
}

void CustomerPartitions::Pause(std::span<const int32_t> partitions) {
  for (int32_t p : partitions) PausePart(PartOf(p));
}

void CustomerPartitions::SendUntil(Part& part, int64_t target_end) {
  if (target_end <= part.sent_end) return;
  CustomerStage& stage = part.stage;
  for (int64_t slice = stage.NextDataSlice(); slice < target_end; slice = stage.NextDataSlice()) {
    stage.DeliverSlice(slice, &delivered_);
    part.feed.Add(slice, delivered_, stage.teams());
    // A catch-up over many slices goes out in records the broker takes (~700 kB at most).
    if (part.feed.largest_pending() >= kMaxFeedContributions) SendRecords(part, slice + 1);
  }
  SendRecords(part, target_end);
}

void CustomerPartitions::SendRecords(Part& part, int64_t end, bool pause) {
  part.feed.Flush(end, part.stage.teams(), &records_, pause);
  for (size_t p = 0; p < records_.size(); ++p) options_.send(static_cast<int>(p), records_[p]);
  part.sent_end = end;
}

int64_t CustomerPartitions::watermark(int channel) const {
  const Part* part = PartOf(std::max(0, channel) / options_.channels_per_partition);
  return part != nullptr ? part->stage.watermark() : kNoWatermark;
}

int64_t CustomerPartitions::min_watermark() const {
  int64_t smallest = kNoWatermark;
  for (const auto& part : parts_) {
    if (!part || part->stage.watermark() == kNoWatermark) continue;
    smallest = smallest == kNoWatermark ? part->stage.watermark() : std::min(smallest, part->stage.watermark());
  }
  return smallest;
}

void CustomerPartitions::SavePartition(int partition, StateWriter& ar) const {
  const Part* part = PartOf(partition);
  CCPULSE_CHECK(part != nullptr, "only a partition read here is saved");
  ar(part->channel);
  part->stage.Save(ar);
  ar(part->sent_end);
}

void CustomerPartitions::LoadPartition(int partition, StateReader& ar, int64_t now_ms) {
  CCPULSE_CHECK(!reads(partition), "a partition is loaded before it is read");
  Part& part = Make(partition);
  uint32_t channel = 0;
  ar(channel);
  if (ar.ok() && channel != part.channel) {
    ar.Fail(fmt::format("the state is channel {}'s, but this partition is channel {}", channel, part.channel));
  }
  if (ar.ok()) part.stage.Load(ar, now_ms);
  ar(part.sent_end);
  if (!ar.ok()) {
    Drop(partition);  // a stage that failed part-way must not stay
    return;
  }
  // The next record continues the last one sent before the checkpoint.
  if (part.sent_end != INT64_MIN) part.feed.ResumeAt(part.sent_end);
  part.last_send_ms = now_ms;
  walk_due_ = true;
}

}  // namespace ccpulse::operators
