// Tests for WatermarkTracker (DESIGN §3): per-partition max minus lateness, min over non-idle
// partitions, idle handling, monotonicity, removal, end of input and the lateness boundary.
#include "pipeline/window/watermark.h"

#include <cstdint>
#include <random>

#include "gtest/gtest.h"

namespace ccpulse::window {
namespace {

constexpr int64_t kLateness = 120'000;  // 2 min
constexpr int64_t kIdle = 30'000;       // 30 s
constexpr int64_t kNone = WatermarkTracker::kNoWatermark;

TEST(WatermarkTrackerTest, NoWatermarkBeforeAnyEvent) {
  WatermarkTracker t(kLateness, kIdle);
  EXPECT_EQ(t.allowed_lateness_ms(), kLateness);
  EXPECT_EQ(t.watermark(), kNone);
  EXPECT_EQ(t.max_event_time(), kNone);
  EXPECT_EQ(t.Advance(0), kNone);
  EXPECT_EQ(t.Advance(1'000'000), kNone);
  EXPECT_EQ(t.AdvanceToEnd(), kNone);
  EXPECT_FALSE(t.IsLate(0));
  EXPECT_FALSE(t.IsLate(INT64_MIN + 1));
}

TEST(WatermarkTrackerTest, MaxEventTimeMinusLateness) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 1'000'000, 0);
  EXPECT_EQ(t.Advance(0), 1'000'000 - kLateness);
  t.Observe(0, 900'000, 1);  // out of order: the max does not move
  EXPECT_EQ(t.Advance(1), 1'000'000 - kLateness);
  t.Observe(0, 1'500'000, 2);
  EXPECT_EQ(t.Advance(2), 1'500'000 - kLateness);
  EXPECT_EQ(t.watermark(), 1'500'000 - kLateness);
  EXPECT_EQ(t.max_event_time(), 1'500'000);
}

TEST(WatermarkTrackerTest, WatermarkOnlyMovesOnAdvance) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 1'000'000, 0);
  EXPECT_EQ(t.watermark(), kNone);
  EXPECT_FALSE(t.IsLate(0));
  t.Advance(0);
  EXPECT_TRUE(t.IsLate(0));
}

TEST(WatermarkTrackerTest, MinOverPartitions) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 500'000, 0);
  t.Observe(3, 900'000, 0);  // sparse partition numbers
  t.Observe(1, 700'000, 0);
  EXPECT_EQ(t.Advance(1000), 500'000 - kLateness);
  t.Observe(0, 800'000, 1000);
  EXPECT_EQ(t.Advance(1000), 700'000 - kLateness);
  t.Observe(1, 2'000'000, 2000);
  EXPECT_EQ(t.Advance(2000), 800'000 - kLateness);
  EXPECT_EQ(t.max_event_time(), 2'000'000);
}

TEST(WatermarkTrackerTest, IdlePartitionStopsHoldingBack) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);  // slow partition, then silent
  t.Observe(1, 1'000'000, 0);
  EXPECT_EQ(t.Advance(0), 100'000 - kLateness);
  t.Observe(1, 1'100'000, 20'000);
  EXPECT_EQ(t.Advance(kIdle - 1), 100'000 - kLateness) << "not idle yet";
  // Exactly idle_after without records: idle.
  EXPECT_EQ(t.Advance(kIdle), 1'100'000 - kLateness);
  // A record makes it active again, but the watermark never goes back.
  t.Observe(0, 200'000, 40'000);
  EXPECT_EQ(t.Advance(40'000), 1'100'000 - kLateness);
  EXPECT_TRUE(t.IsLate(200'000));
}

// A held partition (its sender stopped and will be back) holds the watermark while silent,
// also across a restore, until its next record or the end of the hold.
TEST(WatermarkTrackerTest, AHeldPartitionIsWaitedForUntilItsNextRecord) {
  constexpr int64_t kHold = 100 * kIdle;
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);
  t.Hold(0, 0, kHold);
  t.Observe(1, 1'000'000, 0);
  EXPECT_EQ(t.Advance(50 * kIdle), 100'000 - kLateness) << "held, not idle";
  t.Resume(60 * kIdle);  // as after a restore
  for (int64_t now = 60 * kIdle; now <= 63 * kIdle; now += kIdle / 2) t.Observe(1, 1'100'000, now);
  EXPECT_EQ(t.Advance(63 * kIdle), 100'000 - kLateness) << "still held after a restore";
  // Back: an ordinary partition again, which idles out.
  t.Observe(0, 150'000, 70 * kIdle);
  t.Observe(1, 1'150'000, 70 * kIdle + kIdle / 2);
  t.Observe(1, 1'200'000, 70 * kIdle + kIdle);
  EXPECT_EQ(t.Advance(70 * kIdle + kIdle), 1'200'000 - kLateness);
  t.Hold(7, 0, kHold);  // not present: nothing to hold
  EXPECT_FALSE(t.present(7));
}

// A hold ends: a partition that does not come back idles out hold_ms after it said so.
TEST(WatermarkTrackerTest, AHoldEnds) {
  constexpr int64_t kHold = 10 * kIdle;
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);
  t.Hold(0, 0, kHold);
  for (int64_t now = kIdle / 2; now <= kHold + 2 * kIdle; now += kIdle / 2) {
    t.Observe(1, 1'000'000 + now, now);
    const int64_t watermark = t.Advance(now);
    if (now < kHold) {
      ASSERT_EQ(watermark, 100'000 - kLateness) << now;
    } else {
      ASSERT_EQ(watermark, 1'000'000 + now - kLateness) << now;
    }
  }
}

TEST(WatermarkTrackerTest, AllIdleFollowsTheLargestPartition) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);
  t.Observe(1, 700'000, 0);
  t.Observe(2, 400'000, 0);
  EXPECT_EQ(t.Advance(1), 100'000 - kLateness);
  EXPECT_EQ(t.Advance(kIdle), 700'000 - kLateness);
  EXPECT_EQ(t.Advance(10 * kIdle), 700'000 - kLateness);
}

TEST(WatermarkTrackerTest, AllIdleCanHoldAtTheSmallestPartition) {
  WatermarkTracker t(kLateness, kIdle, WatermarkTracker::WhenAllIdle::kHoldAtSmallest);
  t.Observe(0, 100'000, 0);
  t.Observe(1, 700'000, 0);
  EXPECT_EQ(t.Advance(kIdle), 100'000 - kLateness);
  EXPECT_EQ(t.Advance(10 * kIdle), 100'000 - kLateness);
  // Partition 1 sends on and partition 0 stays silent: once 0 idles out, 1 leads.
  t.Observe(1, 800'000, 20 * kIdle);
  EXPECT_EQ(t.Advance(20 * kIdle + 1), 100'000 - kLateness) << "after a silence of all, 0 gets idle_after again";
  t.Observe(1, 900'000, 20 * kIdle + kIdle / 2);
  EXPECT_EQ(t.Advance(21 * kIdle), 900'000 - kLateness);
}

// After every partition has been silent (a broker outage, a rejoin), the partition whose
// backlog arrives first must not leave the others behind: they get idle_after again.
TEST(WatermarkTrackerTest, ASilenceOfEveryPartitionIsNotIdleness) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);
  t.Observe(1, 100'000, 0);
  EXPECT_EQ(t.Advance(3 * kIdle), 100'000 - kLateness) << "all idle";
  t.Observe(0, 1'000'000, 3 * kIdle);
  EXPECT_EQ(t.Advance(3 * kIdle), 100'000 - kLateness) << "partition 1 holds back again";
  t.Observe(1, 500'000, 3 * kIdle + 10);
  EXPECT_FALSE(t.IsLate(500'000));
  EXPECT_EQ(t.Advance(3 * kIdle + 10), 500'000 - kLateness);
  // Partition 1 then goes silent alone: it idles out as before.
  t.Observe(0, 1'100'000, 4 * kIdle);
  EXPECT_EQ(t.Advance(4 * kIdle + 10), 1'100'000 - kLateness);

  // Reassigned partitions that idled out before any record came.
  WatermarkTracker r(kLateness, kIdle);
  r.Assign(0, 0);
  r.Assign(1, 0);
  EXPECT_EQ(r.Advance(2 * kIdle), kNone);
  r.Observe(0, 1'000'000, 2 * kIdle);
  EXPECT_EQ(r.Advance(2 * kIdle), kNone) << "silent partition 1 holds back for idle_after";
  EXPECT_EQ(r.Advance(3 * kIdle), 1'000'000 - kLateness);
}

TEST(WatermarkTrackerTest, NeverDecreases) {
  std::mt19937_64 rng(11);
  WatermarkTracker t(kLateness, kIdle);
  int64_t now = 0;
  int64_t last = kNone;
  for (int i = 0; i < 20000; ++i) {
    now += std::uniform_int_distribution<int64_t>(0, 5000)(rng);
    const int partition = std::uniform_int_distribution<int>(0, 5)(rng);
    const int action = std::uniform_int_distribution<int>(0, 99)(rng);
    if (action < 80) {
      t.Observe(partition, std::uniform_int_distribution<int64_t>(0, 10'000'000)(rng), now);
    } else if (action < 83) {
      t.Remove(partition);
    }
    const int64_t wm = t.Advance(now);
    ASSERT_GE(wm, last) << "step " << i;
    ASSERT_EQ(wm, t.watermark());
    last = wm;
  }
  ASSERT_GE(t.AdvanceToEnd(), last);
}

TEST(WatermarkTrackerTest, RemovedPartitionNoLongerHoldsBack) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);
  t.Observe(1, 900'000, 0);
  EXPECT_EQ(t.Advance(0), 100'000 - kLateness);
  t.Remove(0);
  EXPECT_EQ(t.Advance(1), 900'000 - kLateness);
  // Removing unknown or negative partitions is harmless.
  t.Remove(17);
  t.Remove(-1);
  EXPECT_EQ(t.Advance(2), 900'000 - kLateness);
  // A removed partition can come back (reassigned); it holds back again from then on.
  t.Observe(0, 1'000'000, 3);
  t.Observe(1, 2'000'000, 3);
  EXPECT_EQ(t.Advance(3), 1'000'000 - kLateness);
}

TEST(WatermarkTrackerTest, RemovedPartitionDoesNotPushAllIdleWatermark) {
  // Partition 1 (far ahead) is revoked; when the remaining partition goes idle the watermark
  // follows the largest remaining partition, not the revoked one, so the remaining
  // partition's next records are not declared late.
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 1'000'000, 0);
  t.Observe(1, 5'000'000, 0);
  EXPECT_EQ(t.Advance(0), 1'000'000 - kLateness);
  t.Remove(1);
  EXPECT_EQ(t.Advance(kIdle), 1'000'000 - kLateness);
  t.Observe(0, 1'010'000, kIdle + 1);
  EXPECT_FALSE(t.IsLate(1'010'000));
  // Removing every partition leaves the watermark where it is.
  t.Remove(0);
  EXPECT_EQ(t.Advance(10 * kIdle), 1'000'000 - kLateness);
  // End of input still goes to the largest event time ever seen.
  EXPECT_EQ(t.AdvanceToEnd(), 5'000'000);
}

TEST(WatermarkTrackerTest, AdvanceToEndJumpsToLargestEventTime) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 100'000, 0);
  t.Observe(1, 3'000'000, 0);
  EXPECT_EQ(t.Advance(0), 100'000 - kLateness);
  EXPECT_EQ(t.AdvanceToEnd(), 3'000'000);
  EXPECT_EQ(t.watermark(), 3'000'000);
  EXPECT_FALSE(t.IsLate(3'000'000));
  EXPECT_TRUE(t.IsLate(2'999'999));
  // Advance afterwards cannot pull it back.
  EXPECT_EQ(t.Advance(1), 3'000'000);
}

TEST(WatermarkTrackerTest, AdvanceToEndWithoutPriorAdvance) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 42, 0);
  EXPECT_EQ(t.AdvanceToEnd(), 42);
}

TEST(WatermarkTrackerTest, IsLateBoundary) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, 1'000'000, 0);
  const int64_t wm = t.Advance(0);
  ASSERT_EQ(wm, 1'000'000 - kLateness);
  EXPECT_FALSE(t.IsLate(wm)) << "an event exactly at the watermark is on time";
  EXPECT_FALSE(t.IsLate(wm + 1));
  EXPECT_TRUE(t.IsLate(wm - 1));
}

TEST(WatermarkTrackerTest, ZeroLateness) {
  WatermarkTracker t(0, kIdle);
  t.Observe(0, 5000, 0);
  EXPECT_EQ(t.Advance(0), 5000);
  EXPECT_FALSE(t.IsLate(5000));
  EXPECT_TRUE(t.IsLate(4999));
}

TEST(WatermarkTrackerTest, NegativeEventTimesBeforeEpoch) {
  WatermarkTracker t(kLateness, kIdle);
  t.Observe(0, -10'000'000, 0);
  EXPECT_EQ(t.Advance(0), -10'000'000 - kLateness);
  EXPECT_NE(t.watermark(), kNone);
}

TEST(WatermarkTrackerTest, AssignedSilentPartitionHoldsBackUntilIdle) {
  WatermarkTracker w(/*lateness=*/100, /*idle_after=*/30);
  w.Assign(1, /*now=*/0);
  w.Observe(0, 5000, 0);
  EXPECT_EQ(w.Advance(10), WatermarkTracker::kNoWatermark) << "partition 1 may hold older records";
  w.Observe(1, 1000, 20);
  EXPECT_EQ(w.Advance(20), 900);
  w.Assign(2, 25);
  EXPECT_EQ(w.Advance(40), 900) << "held by the new partition";
  EXPECT_EQ(w.Advance(50), 900) << "partition 2 (assigned at 25, silent) still active";
  EXPECT_EQ(w.Advance(56), 4900) << "1 and 2 idle: follow partition 0";
}

}  // namespace
}  // namespace ccpulse::window
