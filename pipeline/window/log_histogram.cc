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

void LogHistogram::Merge(const LogHistogram& other) {
  for (int i = 0; i < LogBuckets::kCount; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
}

void LogHistogram::Subtract(const LogHistogram& other) {
  for (int i = 0; i < LogBuckets::kCount; ++i) counts_[i] -= other.counts_[i];
  total_ -= other.total_;
}

void LogHistogram::Clear() {
  counts_.fill(0);
  total_ = 0;
}

double LogHistogram::QuantileSeconds(double q) const {
  if (total_ == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Nearest rank is ceil(q * total). The product can land a rounding error above a whole
  // number (0.07 * 100 == 7.000000000000001), which would pick the next rank; a few ulps of
  // slack keep p7 of 100 values at the 7th.
  const double exact_rank = q * static_cast<double>(total_);
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(exact_rank - exact_rank * 1e-15)));
  uint64_t seen = 0;
  for (int i = 0; i < LogBuckets::kCount; ++i) {
    seen += counts_[i];
    if (seen >= rank) return LogBuckets::RepresentativeSeconds(i);
  }
  return LogBuckets::RepresentativeSeconds(LogBuckets::kCount - 1);
}

}  // namespace ccpulse::window
