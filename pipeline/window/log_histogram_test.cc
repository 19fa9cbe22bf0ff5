// Tests for the fixed log-bucket histogram: bucket layout and its 2 % error bound, exact
// merge/subtract, and nearest-rank quantiles against exact sample quantiles.
#include "pipeline/window/log_histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ccpulse::window {
namespace {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kDayMs = 24 * 3600 * kSecondMs;
constexpr int64_t kSixteenDaysMs = 16 * kDayMs;
constexpr double kMaxRelativeError = 0.02;

// One histogram (slot 0 of its own pool), with the value semantics the tests read naturally.
class LogHistogram {
 public:
  void Add(int64_t ms) { h_.AddDuration(pool_, 0, ms, +1); }
  void Remove(int64_t ms) { h_.AddDuration(pool_, 0, ms, -1); }
  void Merge(const LogHistogram& o) { h_.MergeSlot(pool_, 0, o.h_, o.pool_, 0, +1); }
  void Subtract(const LogHistogram& o) { h_.MergeSlot(pool_, 0, o.h_, o.pool_, 0, -1); }
  void Clear() { h_.ClearSlot(pool_, 0); }
  uint64_t total() const { return h_.total(0); }
  uint32_t count(int bucket) const { return h_.Count(pool_, 0, bucket); }
  double QuantileSeconds(double q) const { return h_.QuantileSeconds(pool_, 0, q); }
  friend bool operator==(const LogHistogram& a, const LogHistogram& b) {
    if (a.total() != b.total()) return false;
    for (int i = 0; i < LogBuckets::kCount; ++i) {
      if (a.count(i) != b.count(i)) return false;
    }
    return true;
  }

 private:
  HistogramBlockPool pool_{1};
  LogHistograms h_;
};

double RelativeError(double reported_seconds, int64_t value_ms) {
  const double value_seconds = static_cast<double>(value_ms) / 1000.0;
  return std::abs(reported_seconds - value_seconds) / value_seconds;
}

TEST(LogBucketsTest, BucketZeroHoldsSubSecondAndNegativeDurations) {
  EXPECT_EQ(LogBuckets::BucketOf(0), 0);
  EXPECT_EQ(LogBuckets::BucketOf(1), 0);
  EXPECT_EQ(LogBuckets::BucketOf(999), 0);
  EXPECT_EQ(LogBuckets::BucketOf(1000), 1);
  EXPECT_EQ(LogBuckets::BucketOf(-1), 0);
  EXPECT_EQ(LogBuckets::BucketOf(-5000), 0);
  EXPECT_EQ(LogBuckets::BucketOf(std::numeric_limits<int64_t>::min()), 0);
  EXPECT_EQ(LogBuckets::LowerBoundMs(0), 0);
  EXPECT_EQ(LogBuckets::LowerBoundMs(1), 1000);
  EXPECT_DOUBLE_EQ(LogBuckets::RepresentativeSeconds(0), 0.5);

  LogHistogram h;
  h.Add(-42);
  h.Add(999);
  EXPECT_EQ(h.count(0), 2u);
  EXPECT_EQ(h.total(), 2u);
}

TEST(LogBucketsTest, LastBucketAbsorbsHugeValues) {
  const int last = LogBuckets::kCount - 1;
  EXPECT_EQ(LogBuckets::BucketOf(std::numeric_limits<int64_t>::max()), last);
  EXPECT_EQ(LogBuckets::BucketOf(int64_t{1} << 50), last);
  EXPECT_EQ(LogBuckets::BucketOf(365 * kDayMs), last);
  EXPECT_EQ(LogBuckets::BucketOf(LogBuckets::LowerBoundMs(last)), last);
  // 16 days is still inside the 2 % range, so it must not land in the catch-all bucket.
  EXPECT_GT(LogBuckets::LowerBoundMs(last), kSixteenDaysMs);
  EXPECT_LT(LogBuckets::BucketOf(kSixteenDaysMs), last);

  LogHistogram h;
  h.Add(std::numeric_limits<int64_t>::max());
  EXPECT_EQ(h.count(last), 1u);
  EXPECT_DOUBLE_EQ(h.QuantileSeconds(0.5), LogBuckets::RepresentativeSeconds(last));
}

TEST(LogBucketsTest, BoundariesAreExactAndIncreasing) {
  for (int i = 1; i < LogBuckets::kCount; ++i) {
    const int64_t lower = LogBuckets::LowerBoundMs(i);
    ASSERT_GT(lower, LogBuckets::LowerBoundMs(i - 1)) << "bucket " << i << " is empty";
    EXPECT_EQ(LogBuckets::BucketOf(lower), i) << "lower bound of bucket " << i;
    EXPECT_EQ(LogBuckets::BucketOf(lower - 1), i - 1) << "just below bucket " << i;
    // The growth factor between consecutive bounds is 1.04 up to millisecond rounding.
    if (i >= 2) {
      const double ratio =
          static_cast<double>(lower) / static_cast<double>(LogBuckets::LowerBoundMs(i - 1));
      EXPECT_NEAR(ratio, LogBuckets::kGrowth,
                  1.0 / static_cast<double>(LogBuckets::LowerBoundMs(i - 1)))
          << "bucket " << i;
    }
  }
}

TEST(LogBucketsTest, RepresentativeWithinTwoPercentAtEveryBucketEdge) {
  // The error of a bucket's representative is largest at the bucket's two ends (the smallest
  // and the largest whole millisecond in it), so checking both bounds every value in it.
  const int last_checked = LogBuckets::BucketOf(kSixteenDaysMs);
  for (int i = 1; i <= last_checked; ++i) {
    const double rep = LogBuckets::RepresentativeSeconds(i);
    const int64_t lo = LogBuckets::LowerBoundMs(i);
    const int64_t hi = LogBuckets::LowerBoundMs(i + 1) - 1;
    EXPECT_LE(RelativeError(rep, lo), kMaxRelativeError) << "bucket " << i << " at " << lo << " ms";
    EXPECT_LE(RelativeError(rep, hi), kMaxRelativeError) << "bucket " << i << " at " << hi << " ms";
    EXPECT_GE(rep * 1000.0, static_cast<double>(lo));
    EXPECT_LE(rep * 1000.0, static_cast<double>(hi + 1));
  }
}

TEST(LogBucketsTest, RepresentativeWithinTwoPercentSweep) {
  // Every millisecond of the first minute, then a dense geometric sweep up to 16 days.
  for (int64_t ms = 1000; ms <= 60 * kSecondMs; ++ms) {
    const int bucket = LogBuckets::BucketOf(ms);
    ASSERT_LE(RelativeError(LogBuckets::RepresentativeSeconds(bucket), ms), kMaxRelativeError)
        << ms << " ms";
  }
  const int steps = 200000;
  const double factor = std::pow(static_cast<double>(kSixteenDaysMs) / 1000.0, 1.0 / steps);
  double v = 1000.0;
  for (int s = 0; s <= steps; ++s, v *= factor) {
    const int64_t ms = std::min<int64_t>(kSixteenDaysMs, std::llround(v));
    const int bucket = LogBuckets::BucketOf(ms);
    ASSERT_GE(bucket, 1);
    ASSERT_LE(RelativeError(LogBuckets::RepresentativeSeconds(bucket), ms), kMaxRelativeError)
        << ms << " ms";
  }
  EXPECT_LE(RelativeError(LogBuckets::RepresentativeSeconds(LogBuckets::BucketOf(kSixteenDaysMs)),
                          kSixteenDaysMs),
            kMaxRelativeError);
}

LogHistogram RandomHistogram(std::mt19937_64& rng, int n) {
  std::uniform_int_distribution<int64_t> dist(-1000, 40 * kDayMs);
  LogHistogram h;
  for (int i = 0; i < n; ++i) h.Add(dist(rng));
  return h;
}

TEST(LogHistogramTest, MergeThenSubtractRestoresExactly) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    const LogHistogram a = RandomHistogram(rng, round * 37);
    const LogHistogram b = RandomHistogram(rng, 1 + round * 11);
    LogHistogram c = a;
    c.Merge(b);
    EXPECT_EQ(c.total(), a.total() + b.total());
    for (int i = 0; i < LogBuckets::kCount; ++i) ASSERT_EQ(c.count(i), a.count(i) + b.count(i));
    if (b.total() > 0) {
      EXPECT_FALSE(c == a);
    }
    c.Subtract(b);
    EXPECT_EQ(c, a);
  }
}

TEST(LogHistogramTest, AddThenRemoveRestoresExactly) {
  LogHistogram h;
  h.Add(5000);
  const LogHistogram before = h;
  h.Add(123456);
  h.Add(-3);
  h.Remove(123456);
  h.Remove(-3);
  EXPECT_EQ(h, before);
  h.Clear();
  EXPECT_EQ(h, LogHistogram{});
  EXPECT_EQ(h.total(), 0u);
}

TEST(LogHistogramTest, EmptyHistogramQuantileIsZero) {
  const LogHistogram h;
  EXPECT_EQ(h.QuantileSeconds(0.0), 0.0);
  EXPECT_EQ(h.QuantileSeconds(0.5), 0.0);
  EXPECT_EQ(h.QuantileSeconds(1.0), 0.0);
}

TEST(LogHistogramTest, NearestRankOnOneToHundredSeconds) {
  LogHistogram h;
  for (int s = 1; s <= 100; ++s) h.Add(s * kSecondMs);
  auto near = [](double got, double want) {
    return std::abs(got - want) / want <= kMaxRelativeError;
  };
  EXPECT_PRED2(near, h.QuantileSeconds(0.5), 50.0);
  EXPECT_PRED2(near, h.QuantileSeconds(0.9), 90.0);
  EXPECT_PRED2(near, h.QuantileSeconds(0.99), 99.0);
  EXPECT_PRED2(near, h.QuantileSeconds(1.0), 100.0);
  EXPECT_PRED2(near, h.QuantileSeconds(0.0), 1.0);  // rank is at least 1
  EXPECT_PRED2(near, h.QuantileSeconds(0.011), 2.0);
  // 0.07 * 100 is 7.000000000000001 in doubles; nearest rank is still the 7th value.
  EXPECT_DOUBLE_EQ(h.QuantileSeconds(0.07),
                   LogBuckets::RepresentativeSeconds(LogBuckets::BucketOf(7 * kSecondMs)));
  // Ranks must be nearest-rank exactly: p50 of 1..100 is the 50th value's bucket.
  EXPECT_DOUBLE_EQ(h.QuantileSeconds(0.5),
                   LogBuckets::RepresentativeSeconds(LogBuckets::BucketOf(50 * kSecondMs)));
  EXPECT_DOUBLE_EQ(h.QuantileSeconds(0.505),
                   LogBuckets::RepresentativeSeconds(LogBuckets::BucketOf(51 * kSecondMs)));
}

TEST(LogHistogramTest, QuantileIsClampedToUnitInterval) {
  LogHistogram h;
  for (int s = 1; s <= 100; ++s) h.Add(s * kSecondMs);
  EXPECT_EQ(h.QuantileSeconds(-0.5), h.QuantileSeconds(0.0));
  EXPECT_EQ(h.QuantileSeconds(-1e300), h.QuantileSeconds(0.0));
  EXPECT_EQ(h.QuantileSeconds(1.5), h.QuantileSeconds(1.0));
  EXPECT_EQ(h.QuantileSeconds(1e300), h.QuantileSeconds(1.0));
}

TEST(LogHistogramTest, SubSecondOnlyReportsHalfSecond) {
  LogHistogram h;
  h.Add(10);
  h.Add(900);
  EXPECT_DOUBLE_EQ(h.QuantileSeconds(0.99), 0.5);
}

// Exact nearest-rank quantile of `sorted` for q = permille / 1000 (integer arithmetic).
int64_t ExactNearestRank(const std::vector<int64_t>& sorted, int permille) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t rank = std::max<int64_t>(1, (permille * n + 999) / 1000);
  return sorted[rank - 1];
}

TEST(LogHistogramTest, PropertyQuantilesWithinTwoPercentOfExact) {
  std::mt19937_64 rng(20240601);
  std::uniform_real_distribution<double> log_value(
      0.0, std::log(static_cast<double>(kSixteenDaysMs) / 1000.0));
  std::uniform_int_distribution<int> size_dist(1, 3000);
  const int permilles[] = {0, 1, 10, 70, 250, 500, 750, 900, 950, 990, 999, 1000};
  for (int round = 0; round < 300; ++round) {
    const int n = size_dist(rng);
    // Mix of spreads: some rounds cluster values tightly so neighbouring ranks share buckets.
    const double spread = (round % 3 == 0) ? 0.05 : 1.0;
    const double offset = log_value(rng) * (1.0 - spread);
    std::vector<int64_t> samples;
    samples.reserve(n);
    LogHistogram h;
    for (int i = 0; i < n; ++i) {
      const int64_t ms = std::clamp<int64_t>(
          std::llround(1000.0 * std::exp(offset + spread * log_value(rng))), 1000, kSixteenDaysMs);
      samples.push_back(ms);
      h.Add(ms);
    }
    std::sort(samples.begin(), samples.end());
    for (int permille : permilles) {
      const int64_t exact = ExactNearestRank(samples, permille);
      const double got = h.QuantileSeconds(permille / 1000.0);
      ASSERT_LE(RelativeError(got, exact), kMaxRelativeError)
          << "round " << round << " n=" << n << " q=" << permille / 1000.0 << " exact=" << exact
          << " ms got=" << got << " s";
    }
  }
}

TEST(LogHistogramsTest, SlotsAreIndependentAndShareBlocks) {
  HistogramBlockPool pool(4);
  LogHistograms h;
  h.AddDuration(pool, 0, 30 * kSecondMs, +1);
  h.AddDuration(pool, 2, 30 * kSecondMs, +1);
  h.AddDuration(pool, 2, 31 * kSecondMs, +1);
  h.AddDuration(pool, 3, 3 * kDayMs, +1);
  EXPECT_EQ(h.total(0), 1u);
  EXPECT_EQ(h.total(1), 0u);
  EXPECT_EQ(h.total(2), 2u);
  EXPECT_EQ(h.Count(pool, 2, LogBuckets::BucketOf(30 * kSecondMs)), 1u);
  EXPECT_EQ(h.Count(pool, 1, LogBuckets::BucketOf(30 * kSecondMs)), 0u);
  EXPECT_EQ(h.allocated_blocks(), 2u) << "30 s and 31 s share a block; 3 days needs another";
  h.ClearSlot(pool, 2);
  EXPECT_EQ(h.total(2), 0u);
  EXPECT_EQ(h.Count(pool, 0, LogBuckets::BucketOf(30 * kSecondMs)), 1u);
  EXPECT_EQ(h.QuantileSeconds(pool, 1, 0.5), 0.0);
}

TEST(LogHistogramsTest, SparseStorageIsSmallForTypicalWaits) {
  // Waits of a voice queue (1 s - 5 min) and handle times (1 - 30 min) use a fraction of the
  // 365 buckets, so most blocks are never allocated.
  HistogramBlockPool pool(4);
  LogHistograms wait, handle;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; ++i) {
    wait.AddDuration(pool, i % 4, 1000 + static_cast<int64_t>(rng() % 300'000), +1);
    handle.AddDuration(pool, i % 4, 60'000 + static_cast<int64_t>(rng() % 1'740'000), +1);
  }
  // 1 s - 5 min spans blocks 0..9, 1 - 30 min blocks 6..12: 17 of the 2 x 23 possible.
  EXPECT_EQ(wait.allocated_blocks(), 10u);
  EXPECT_EQ(handle.allocated_blocks(), 7u);
}

}  // namespace
}  // namespace ccpulse::window
