// Metric definitions from an aggregate: ratios with numerators and denominators, durations,
// backlog flow and health.
#include "operators/team_metrics.h"

#include "gtest/gtest.h"

namespace ccpulse::operators {
namespace {

// One window (slot 0) of team aggregates with its own histogram pool.
struct Agg {
  window::HistogramBlockPool pool{1};
  TeamWindows windows{1, &pool};
  void Apply(uint8_t kind, uint32_t value, int sign) { windows.Apply(0, kind, value, sign); }
};

void Add(Agg& agg, Kind kind, int n, uint32_t value = 0) {
  for (int i = 0; i < n; ++i) agg.Apply(static_cast<uint8_t>(kind), value, +1);
}

TeamMetrics Compute(const Agg& agg, int64_t window_ms, const BacklogState& backlog = {},
                    TimeMs at = 0, const MetricOptions& options = MetricOptions{}) {
  return ComputeMetrics(agg.windows, 0, window_ms, backlog, at, options);
}

TEST(TeamMetricsTest, RatiosFollowTheDefinitions) {
  MetricOptions options;
  Agg agg;
  Add(agg, Kind::kInflow, 20);
  Add(agg, Kind::kAnswered, 16);
  Add(agg, Kind::kAnsweredInSl, 12);
  Add(agg, Kind::kAbandoned, 3);
  Add(agg, Kind::kAbandonedShort, 1);
  Add(agg, Kind::kResolved, 10);
  Add(agg, Kind::kClosed, 2);
  Add(agg, Kind::kTransferred, 2);
  Add(agg, Kind::kEscalated, 2);
  Add(agg, Kind::kFcrProvisional, 8);
  Add(agg, Kind::kFcrConfirmed, 6);
  Add(agg, Kind::kFcrFailed, 2);
  Add(agg, Kind::kRepeat, 1);
  const TeamMetrics m = Compute(agg, 15 * kMinuteMs, {}, 0, options);
  EXPECT_EQ(m.handled, 16u);
  EXPECT_EQ(m.escalation.numerator, 2u);
  EXPECT_EQ(m.escalation.denominator, 16u);
  EXPECT_DOUBLE_EQ(*m.escalation.value(), 0.125);
  EXPECT_DOUBLE_EQ(*m.transfer.value(), 0.125);
  EXPECT_DOUBLE_EQ(*m.fcr_provisional.value(), 0.5);
  EXPECT_DOUBLE_EQ(*m.fcr_confirmed.value(), 0.75);
  EXPECT_DOUBLE_EQ(*m.repeat_contact.value(), 0.1);
  EXPECT_EQ(m.abandon.denominator, 19u) << "short abandons excluded";
  EXPECT_DOUBLE_EQ(*m.abandon.value(), 3.0 / 19.0);
  EXPECT_DOUBLE_EQ(*m.service_level.value(), 12.0 / 19.0);
  EXPECT_DOUBLE_EQ(m.inflow_per_min, 20.0 / 15.0);
  EXPECT_DOUBLE_EQ(m.outflow_per_min, (16.0 + 4.0) / 15.0);
}

TEST(TeamMetricsTest, EmptyWindowHasNoRatios) {
  const TeamMetrics m = Compute(Agg{}, kHourMs);
  EXPECT_FALSE(m.escalation.value().has_value());
  EXPECT_FALSE(m.service_level.value().has_value());
  EXPECT_FALSE(m.asa_s.has_value());
  EXPECT_FALSE(m.required_agents.has_value());
  EXPECT_EQ(m.health, Health::kGreen);
  EXPECT_EQ(m.time_to_clear_s, 0.0);
}

TEST(TeamMetricsTest, DurationsMeansAndQuantiles) {
  Agg agg;
  for (int s = 1; s <= 100; ++s) agg.Apply(static_cast<uint8_t>(Kind::kWait), s * 1000, +1);
  agg.Apply(static_cast<uint8_t>(Kind::kHandle), 300000, +1);
  const TeamMetrics m = Compute(agg, kHourMs);
  EXPECT_DOUBLE_EQ(*m.asa_s, 50.5);
  EXPECT_NEAR(*m.wait_p50_s, 50, 50 * 0.02);
  EXPECT_NEAR(*m.wait_p90_s, 90, 90 * 0.02);
  EXPECT_NEAR(*m.wait_p99_s, 99, 99 * 0.02);
  EXPECT_DOUBLE_EQ(*m.aht_s, 300);
  // Subtracting restores the empty aggregate exactly.
  for (int s = 1; s <= 100; ++s) agg.Apply(static_cast<uint8_t>(Kind::kWait), s * 1000, -1);
  agg.Apply(static_cast<uint8_t>(Kind::kHandle), 300000, -1);
  EXPECT_TRUE(agg.windows.Empty(0));
  EXPECT_EQ(agg.windows.wait_ms(0), 0);
  EXPECT_EQ(agg.windows.handle_ms(0), 0);
}

TEST(TeamMetricsTest, BacklogTimeToClearAndGrowth) {
  MetricOptions options;
  Agg agg;
  Add(agg, Kind::kInflow, 10);
  Add(agg, Kind::kResolved, 20);
  BacklogState backlog{.waiting = 5, .in_progress = 5, .oldest_wait_start = 100'000};
  TeamMetrics m = Compute(agg, 10 * kMinuteMs, backlog, 110'000, options);
  EXPECT_DOUBLE_EQ(m.net_flow_per_min, -1.0);
  EXPECT_DOUBLE_EQ(*m.time_to_clear_s, 10 * 60.0);
  EXPECT_FALSE(m.growing);
  EXPECT_DOUBLE_EQ(m.oldest_wait_s, 10.0);
  EXPECT_EQ(m.health, Health::kGreen);

  Add(agg, Kind::kInflow, 20);  // now 30 in, 20 out: growing
  m = Compute(agg, 10 * kMinuteMs, backlog, 110'000, options);
  EXPECT_TRUE(m.growing);
  EXPECT_FALSE(m.time_to_clear_s.has_value());
  EXPECT_EQ(m.health, Health::kAmber);
}

TEST(TeamMetricsTest, HealthRule) {
  MetricOptions options;  // threshold 20 s
  EXPECT_EQ(BacklogHealth(10, false, options), Health::kGreen);
  EXPECT_EQ(BacklogHealth(10, true, options), Health::kAmber);
  EXPECT_EQ(BacklogHealth(25, false, options), Health::kAmber);
  EXPECT_EQ(BacklogHealth(25, true, options), Health::kRed);
  EXPECT_EQ(BacklogHealth(41, false, options), Health::kRed);
}

TEST(TeamMetricsTest, RequiredAgentsFromArrivalsAndAht) {
  MetricOptions options;
  Agg agg;
  Add(agg, Kind::kInflow, 200);  // 200 per hour
  agg.Apply(static_cast<uint8_t>(Kind::kHandle), 180'000, +1);  // AHT 180 s -> 10 Erlangs
  const TeamMetrics m = Compute(agg, kHourMs, {}, 0, options);
  EXPECT_EQ(m.required_agents, 14);
}

}  // namespace
}  // namespace ccpulse::operators
