// Event-time watermarks (DESIGN §3): per input partition, max event time seen minus the allowed
// lateness; a worker's watermark is the minimum over its partitions that are not idle, and it
// never goes backwards. Events older than the watermark are late.
#ifndef CCPULSE_PIPELINE_WINDOW_WATERMARK_H_
#define CCPULSE_PIPELINE_WINDOW_WATERMARK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace ccpulse::window {

// Value class; worker-local. Wall-clock times are passed in (no clock is read here), so the
// class is deterministic under test.
class WatermarkTracker {
 public:
  static constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();

  // When every partition is idle: the watermark follows the largest partition
  // (`WhenAllIdle::kFollowLargest`, for partitions whose records are all here), or stays with
  // the smallest (kHoldAtSmallest: for channels that each deliver what is behind their own
  // watermark later, as a team stage's customer stages do).
  enum class WhenAllIdle { kFollowLargest, kHoldAtSmallest };

  WatermarkTracker(int64_t allowed_lateness_ms, int64_t idle_after_ms,
                   WhenAllIdle when_all_idle = WhenAllIdle::kFollowLargest)
      : lateness_ms_(allowed_lateness_ms), idle_after_ms_(idle_after_ms), when_all_idle_(when_all_idle) {}

  int64_t allowed_lateness_ms() const { return lateness_ms_; }

  // Records an event of `partition` with event time `time_ms`, seen at wall time `now_ms`. After
  // a silence of every partition (>= idle_after), each one counts as seen now.
  void Observe(int partition, int64_t time_ms, int64_t now_ms);

  // Registers a partition that was assigned but has sent nothing yet: until it sends or idles
  // out, it holds the watermark back (its backlog may be older than the others').
  void Assign(int partition, int64_t now_ms);

  // Drops a partition (revoked on rebalance); it no longer holds the watermark back.
  void Remove(int partition);

  // A present partition to be waited for although silent (it said it stops and will be back):
  // until its next record, or for `hold_ms` (at least idle_after) from `now_ms`.
  void Hold(int partition, int64_t now_ms, int64_t hold_ms);

  // The watermark at wall time `now_ms`: min over non-idle partitions of max_time - lateness.
  // When every partition is idle, the watermark follows the largest one not removed (an idle
  // stream does not freeze windows forever), or holds at the smallest (see WhenAllIdle).
  // Never decreases.
  int64_t Advance(int64_t now_ms);

  // The watermark moves to at least `watermark_ms` (carried along from outside).
  void Raise(int64_t watermark_ms) { watermark_ = std::max(watermark_, watermark_ms); }

  // End of input: the watermark jumps to the largest event time seen (DESIGN §3, replay).
  int64_t AdvanceToEnd();

  // Over partitions first .. first + count - 1 that are present and not idle at `now_ms`: the
  // smallest max event time; kNoWatermark when one of them has sent nothing yet (it holds them
  // back); INT64_MAX when none is (they are carried along by the others). Not monotonic.
  int64_t LiveMinimum(int first, int count, int64_t now_ms) const;

  template <typename Ar>
  void Persist(Ar& ar) {
    ar(partitions_, watermark_, max_event_time_);
  }
  // After a restore: partitions count as seen at `now_ms`, so none idles out while the
  // consumer is still catching up to where the checkpoint was taken.
  void Resume(int64_t now_ms) {
    for (Partition& p : partitions_) p.last_seen_wall_ms = std::max(p.last_seen_wall_ms, now_ms);  // holds stay
    last_record_wall_ms_ = now_ms;
  }

  // Partition `partition` is assigned (or has sent) and not removed.
  bool present(int partition) const {
    return partition >= 0 && static_cast<size_t>(partition) < partitions_.size() && partitions_[partition].present;
  }
  // Some partition is assigned (or has sent) and not removed.
  bool has_partitions() const {
    for (const Partition& p : partitions_) {
      if (p.present) return true;
    }
    return false;
  }
  int64_t watermark() const { return watermark_; }
  int64_t max_event_time() const { return max_event_time_; }
  bool IsLate(int64_t time_ms) const { return watermark_ != kNoWatermark && time_ms < watermark_; }

 private:
  struct Partition {
    int64_t max_time_ms = kNoWatermark;
    int64_t last_seen_wall_ms = 0;  // in the future while held
    bool present = false;
  };
  bool Idle(const Partition& p, int64_t now_ms) const { return now_ms - p.last_seen_wall_ms >= idle_after_ms_; }
  int64_t lateness_ms_;
  int64_t idle_after_ms_;
  WhenAllIdle when_all_idle_;
  std::vector<Partition> partitions_;
  int64_t watermark_ = kNoWatermark;
  int64_t max_event_time_ = kNoWatermark;
  int64_t last_record_wall_ms_ = 0;  // wall time of the latest record of any partition
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_WATERMARK_H_
