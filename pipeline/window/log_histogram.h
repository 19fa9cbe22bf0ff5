// Fixed log-bucket duration histograms: relative error <= 2 % for durations >= 1 s, exact add,
// merge and subtract (bucket counts are integers), quantiles read from the buckets.
// The building block of every windowed wait/handle distribution.
#ifndef CCPULSE_PIPELINE_WINDOW_LOG_HISTOGRAM_H_
#define CCPULSE_PIPELINE_WINDOW_LOG_HISTOGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ccpulse::window {

// Bucket layout shared by every histogram: bucket 0 holds [0, 1 s); bucket i >= 1 holds
// [1 s * g^(i-1), 1 s * g^i) with g = 1.04; the last bucket also holds everything above
// ~16 days. A bucket's representative value 2*a*g/(1+g) is within (g-1)/(g+1) = 1.96 % of any
// value in [a, a*g).
struct LogBuckets {
  static constexpr double kGrowth = 1.04;
  static constexpr int kCount = 365;
  static constexpr int64_t kFirstBoundMs = 1000;

  // Bucket of a non-negative duration in milliseconds (negative counts as 0).
  static int BucketOf(int64_t duration_ms);
  // Lower bound of bucket `index` in milliseconds.
  static int64_t LowerBoundMs(int index);
  // The value a quantile in this bucket reports, in seconds (0.5 s for bucket 0).
  static double RepresentativeSeconds(int index);
};

// Storage for many histograms of one worker: fixed-size blocks of kBlockBuckets buckets x
// `slots` counts, handed out on first use and never moved (indexes stay valid). Block 0 is
// reserved as "none". Worker-local.
class HistogramBlockPool {
 public:
  static constexpr int kBlockBuckets = 16;
  static constexpr int kBlocksPerHistogram =
      (LogBuckets::kCount + kBlockBuckets - 1) / kBlockBuckets;
  static constexpr int kMaxSlots = 8;

  explicit HistogramBlockPool(int slots);
  int slots() const { return slots_; }
  uint32_t Allocate();
  uint32_t* Counts(uint32_t block) { return data_.data() + size_t{block} * stride_; }
  const uint32_t* Counts(uint32_t block) const { return data_.data() + size_t{block} * stride_; }
  size_t MemoryBytes() const { return data_.capacity() * sizeof(uint32_t); }

  template <typename Ar>
  void Persist(Ar& ar) {
    ar(data_);
    if constexpr (Ar::kLoading) {
      if (data_.empty() || data_.size() % stride_ != 0) ar.Fail("histogram pool size");
    }
  }

 private:
  int slots_;
  size_t stride_;  // uint32 per block: kBlockBuckets * slots, laid out [bucket][slot]
  std::vector<uint32_t> data_;
};

// `slots` aligned log-bucket histograms (e.g. one per window) over the same buckets, stored
// sparsely in pool blocks laid out [bucket][slot]: adding one duration to every window touches
// one cache line. Exact: counts are integers, so add, subtract and merge are exact.
// Value class apart from the pool, which every call names; not thread-safe.
class LogHistograms {
 public:
  void Add(HistogramBlockPool& pool, int slot, int bucket, int sign);
  void AddDuration(HistogramBlockPool& pool, int slot, int64_t duration_ms, int sign) {
    Add(pool, slot, LogBuckets::BucketOf(duration_ms), sign);
  }
  // Adds (sign +1) or subtracts (-1) every bucket of `other`'s `other_slot` into `slot`.
  void MergeSlot(HistogramBlockPool& pool, int slot, const LogHistograms& other,
                 const HistogramBlockPool& other_pool, int other_slot, int sign);
  void ClearSlot(HistogramBlockPool& pool, int slot);

  uint64_t total(int slot) const { return totals_[slot]; }
  uint32_t Count(const HistogramBlockPool& pool, int slot, int bucket) const;
  // Nearest-rank quantile in seconds (q in [0, 1]); 0 when empty.
  double QuantileSeconds(const HistogramBlockPool& pool, int slot, double q) const;
  size_t allocated_blocks() const;

 private:
  std::array<uint32_t, HistogramBlockPool::kBlocksPerHistogram> blocks_{};
  std::array<uint32_t, HistogramBlockPool::kMaxSlots> totals_{};
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_LOG_HISTOGRAM_H_
