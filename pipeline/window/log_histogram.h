// Fixed log-bucket duration histogram: relative error <= 2 % for durations >= 1 s, exact add,
// merge and subtract (bucket counts are integers), quantiles read from the buckets.
// The building block of every windowed wait/handle distribution.
#ifndef CCPULSE_PIPELINE_WINDOW_LOG_HISTOGRAM_H_
#define CCPULSE_PIPELINE_WINDOW_LOG_HISTOGRAM_H_

#include <array>
#include <cstdint>

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

// Value class; not thread-safe. Counts are uint32: a bucket cannot hold more than 4e9 durations.
class LogHistogram {
 public:
  void Add(int64_t duration_ms) { ++counts_[LogBuckets::BucketOf(duration_ms)], ++total_; }
  void Remove(int64_t duration_ms) { --counts_[LogBuckets::BucketOf(duration_ms)], --total_; }
  void Merge(const LogHistogram& other);
  // Requires every bucket of `other` to be <= this one's (it was merged in before).
  void Subtract(const LogHistogram& other);
  void Clear();

  uint64_t total() const { return total_; }
  uint32_t count(int bucket) const { return counts_[bucket]; }

  // Nearest-rank quantile in seconds (q in [0, 1]); 0 when empty.
  double QuantileSeconds(double q) const;

  friend bool operator==(const LogHistogram&, const LogHistogram&) = default;

 private:
  std::array<uint32_t, LogBuckets::kCount> counts_{};
  uint64_t total_ = 0;
};

}  // namespace ccpulse::window

#endif  // CCPULSE_PIPELINE_WINDOW_LOG_HISTOGRAM_H_
