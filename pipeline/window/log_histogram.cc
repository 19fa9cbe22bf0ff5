// Log-bucket histogram; see log_histogram.h.
#include "pipeline/window/log_histogram.h"

#include <algorithm>
#include <cmath>

namespace ccpulse::window {
namespace {

// Upper bound (exclusive) of each bucket in milliseconds, computed once.
struct BoundTable {
  std::array<int64_t, LogBuckets::kCount> upper_ms;
  BoundTable() {
    double bound = static_cast<double>(LogBuckets::kFirstBoundMs);
    for (int i = 0; i < LogBuckets::kCount; ++i) {
      upper_ms[i] = static_cast<int64_t>(std::llround(bound));
      bound *= LogBuckets::kGrowth;
    }
    upper_ms[LogBuckets::kCount - 1] = INT64_MAX;
  }
};

const BoundTable& Bounds() {
  static const BoundTable table;
  return table;
}

}  // namespace

int LogBuckets::BucketOf(int64_t duration_ms) {
  const auto& upper = Bounds().upper_ms;
  // The last bucket's bound is INT64_MAX, which upper_bound would place past the end.
  const auto it = std::upper_bound(upper.begin(), upper.end() - 1, duration_ms);
  return static_cast<int>(it - upper.begin());
}

int64_t LogBuckets::LowerBoundMs(int index) { return index == 0 ? 0 : Bounds().upper_ms[index - 1]; }

double LogBuckets::RepresentativeSeconds(int index) {
  if (index == 0) return 0.5;
  const double lower = static_cast<double>(LowerBoundMs(index)) / 1000.0;
  return 2.0 * lower * kGrowth / (1.0 + kGrowth);
}

HistogramBlockPool::HistogramBlockPool(int slots)
    : slots_(slots), stride_(static_cast<size_t>(kBlockBuckets) * static_cast<size_t>(slots)) {
  data_.resize(stride_);  // block 0: "none"
}

uint32_t HistogramBlockPool::Allocate() {
  const size_t block = data_.size() / stride_;
  data_.resize(data_.size() + stride_, 0);
  return static_cast<uint32_t>(block);
}

void LogHistograms::Add(HistogramBlockPool& pool, int slot, int bucket, int sign) {
  uint32_t& block = blocks_[bucket / HistogramBlockPool::kBlockBuckets];
  if (block == 0) block = pool.Allocate();
  pool.Counts(block)[(bucket % HistogramBlockPool::kBlockBuckets) * pool.slots() + slot] +=
      static_cast<uint32_t>(sign);
  totals_[slot] += static_cast<uint32_t>(sign);
}

uint32_t LogHistograms::Count(const HistogramBlockPool& pool, int slot, int bucket) const {
  const uint32_t block = blocks_[bucket / HistogramBlockPool::kBlockBuckets];
  if (block == 0) return 0;
  return pool.Counts(block)[(bucket % HistogramBlockPool::kBlockBuckets) * pool.slots() + slot];
}

void LogHistograms::MergeSlot(HistogramBlockPool& pool, int slot, const LogHistograms& other,
                              const HistogramBlockPool& other_pool, int other_slot, int sign) {
  for (int b = 0; b < HistogramBlockPool::kBlocksPerHistogram; ++b) {
    if (other.blocks_[b] == 0) continue;
    for (int i = 0; i < HistogramBlockPool::kBlockBuckets; ++i) {
      const int bucket = b * HistogramBlockPool::kBlockBuckets + i;
      if (bucket >= LogBuckets::kCount) break;
      const uint32_t n = other.Count(other_pool, other_slot, bucket);
      if (n == 0) continue;
      uint32_t& block = blocks_[b];
      if (block == 0) block = pool.Allocate();
      pool.Counts(block)[i * pool.slots() + slot] += static_cast<uint32_t>(sign) * n;
      totals_[slot] += static_cast<uint32_t>(sign) * n;
    }
  }
}

void LogHistograms::ClearSlot(HistogramBlockPool& pool, int slot) {
  for (uint32_t block : blocks_) {
    if (block == 0) continue;
    uint32_t* counts = pool.Counts(block);
    for (int i = 0; i < HistogramBlockPool::kBlockBuckets; ++i) counts[i * pool.slots() + slot] = 0;
  }
  totals_[slot] = 0;
}

double LogHistograms::QuantileSeconds(const HistogramBlockPool& pool, int slot, double q) const {
  const uint64_t total = totals_[slot];
  if (total == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank is ceil(q * total). The product can land a rounding error above a whole
  // number (0.07 * 100 == 7.000000000000001), which would pick the next rank; a few ulps of
  // slack keep p7 of 100 values at the 7th.
  const double exact_rank = q * static_cast<double>(total);
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(exact_rank - exact_rank * 1e-15)));
  uint64_t seen = 0;
  for (int b = 0; b < HistogramBlockPool::kBlocksPerHistogram; ++b) {
    if (blocks_[b] == 0) continue;
    const uint32_t* counts = pool.Counts(blocks_[b]);
    for (int i = 0; i < HistogramBlockPool::kBlockBuckets; ++i) {
      seen += counts[i * pool.slots() + slot];
      if (seen >= rank) {
        return LogBuckets::RepresentativeSeconds(
            std::min(b * HistogramBlockPool::kBlockBuckets + i, LogBuckets::kCount - 1));
      }
    }
  }
  return LogBuckets::RepresentativeSeconds(LogBuckets::kCount - 1);
}

size_t LogHistograms::allocated_blocks() const {
  size_t n = 0;
  for (uint32_t block : blocks_) n += block != 0;
  return n;
}

}  // namespace ccpulse::window
