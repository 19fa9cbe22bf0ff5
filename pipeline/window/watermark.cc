// Watermark tracking; see watermark.h.
#include "pipeline/window/watermark.h"

#include <algorithm>

namespace ccpulse::window {

void WatermarkTracker::Observe(int partition, int64_t time_ms, int64_t now_ms) {
  if (partition < 0) partition = 0;
  if (static_cast<size_t>(partition) >= partitions_.size()) partitions_.resize(partition + 1);
  // The first record after every partition has been silent for idle_after (a broker outage, a
  // rejoin, a paused producer): silence shared by all is not one partition idling, so every
  // partition gets idle_after again to send before the watermark leaves it behind.
  if (now_ms - last_record_wall_ms_ >= idle_after_ms_) {
    for (Partition& q : partitions_) {
      if (q.present) q.last_seen_wall_ms = std::max(q.last_seen_wall_ms, now_ms);
    }
  }
  last_record_wall_ms_ = now_ms;
  Partition& p = partitions_[partition];
  p.present = true;
  p.max_time_ms = std::max(p.max_time_ms, time_ms);
  p.last_seen_wall_ms = now_ms;
  max_event_time_ = std::max(max_event_time_, time_ms);
}

void WatermarkTracker::Assign(int partition, int64_t now_ms) {
  if (partition < 0) partition = 0;
  if (static_cast<size_t>(partition) >= partitions_.size()) partitions_.resize(partition + 1);
  Partition& p = partitions_[partition];
  if (p.present) return;
  p.present = true;
  p.last_seen_wall_ms = now_ms;
}

void WatermarkTracker::Remove(int partition) {
  if (partition >= 0 && static_cast<size_t>(partition) < partitions_.size()) {
    partitions_[partition] = Partition{};
  }
}

void WatermarkTracker::Hold(int partition, int64_t now_ms, int64_t hold_ms) {
  // Seen "then" in the future: idle once hold_ms in all have passed.
  if (present(partition)) partitions_[partition].last_seen_wall_ms = now_ms + std::max<int64_t>(0, hold_ms - idle_after_ms_);
}

int64_t WatermarkTracker::Advance(int64_t now_ms) {
  int64_t active_min = kNoWatermark;
  int64_t largest = kNoWatermark;  // over present partitions, idle or not
  int64_t smallest = kNoWatermark;
  bool any_active = false;
  for (const Partition& p : partitions_) {
    if (!p.present) continue;
    if (p.max_time_ms == kNoWatermark) {
      // Assigned but silent so far: it holds the watermark back until it idles out.
      if (!Idle(p, now_ms)) return watermark_;
      continue;
    }
    largest = std::max(largest, p.max_time_ms);
    smallest = smallest == kNoWatermark ? p.max_time_ms : std::min(smallest, p.max_time_ms);
    if (Idle(p, now_ms)) continue;
    active_min = any_active ? std::min(active_min, p.max_time_ms) : p.max_time_ms;
    any_active = true;
  }
  // All idle: follow the largest partition still assigned (or hold at the smallest). A removed
  // partition's time must not push the watermark (it would make the remaining partitions' next
  // records late).
  const int64_t basis = any_active                                    ? active_min
                        : when_all_idle_ == WhenAllIdle::kFollowLargest ? largest
                                                                        : smallest;
  if (basis != kNoWatermark) watermark_ = std::max(watermark_, basis - lateness_ms_);
  return watermark_;
}

int64_t WatermarkTracker::LiveMinimum(int first, int count, int64_t now_ms) const {
  int64_t live_min = std::numeric_limits<int64_t>::max();
  for (int i = std::max(first, 0); i < first + count && static_cast<size_t>(i) < partitions_.size(); ++i) {
    const Partition& p = partitions_[i];
    if (!p.present || Idle(p, now_ms)) continue;
    live_min = std::min(live_min, p.max_time_ms);  // kNoWatermark (silent so far) is the smallest
  }
  return live_min;
}

int64_t WatermarkTracker::AdvanceToEnd() {
  if (max_event_time_ != kNoWatermark) watermark_ = std::max(watermark_, max_event_time_);
  return watermark_;
}

}  // namespace ccpulse::window
